package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.vsocket.link.LinkHost;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketLoopPoller;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.RingSource;
import io.vsocket.stream.StreamLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A ring link without shared memory or a device, for channel tests: the real
 * {@link RingConnectionLink} over a {@link Ring} whose two directions ({@link Way}) are plain
 * buffers, polled every turn of the loop as the shm link is. A ring made to keep what it wrote
 * ({@link Ring#keeping}) can fail over to tcp as the rdma link does.
 */
final class MemoryRingLinks {
    private MemoryRingLinks() {
    }

    /** One direction: counts since the start, the bytes published and not yet read, those written and not yet published. */
    static final class Way {
        final int capacity;
        /** Published and not yet read by the receiver. */
        final ByteBuf ring = Unpooled.buffer();
        /** Written and not yet published. */
        final ByteBuf staged = Unpooled.buffer();
        /** Every byte the writer ever wrote, for a fail-over to send again (a keeping ring's only). */
        final ByteBuf log = Unpooled.buffer();
        long published;
        long consumed;
        boolean outputDone;
        /** The writing side closed its link. */
        boolean closed;

        Way(int capacity) {
            this.capacity = capacity;
        }

        long produced() {
            return published + staged.readableBytes();
        }
    }

    /** A {@link StreamLink} over two {@link Way}s: credit is the room left in the peer's. */
    static final class Ring implements StreamLink {
        final Way out;
        final Way in;
        private final boolean keeps;
        volatile IOException failure;
        boolean stopped;
        /** Set to have the link's owner probe the peer over the control connection (taken once). */
        volatile boolean probeWanted;
        /** Answers to this side's probes that came back. */
        final java.util.concurrent.atomic.AtomicInteger probesAnswered = new java.util.concurrent.atomic.AtomicInteger();

        private Ring(Way out, Way in, boolean keeps) {
            this.out = out;
            this.in = in;
            this.keeps = keeps;
        }

        /** A ring that forgets what it published, as shm does (it does not fail over). */
        static Ring plain(Way out, Way in) {
            return new Ring(out, in, false);
        }

        /** A ring that keeps every byte it wrote and fails over to tcp, as the rdma link does. */
        static Ring keeping(Way out, Way in) {
            return new Ring(out, in, true);
        }

        @Override
        public int credit() {
            return stopped ? 0 : (int) (out.capacity - (out.produced() - out.consumed));
        }

        @Override
        public int write(ByteBuf buf, int index, int length) {
            int n = Math.min(length, credit());
            out.staged.writeBytes(buf, index, n);
            if (keeps) {
                out.log.writeBytes(buf, index, n);
            }
            return n;
        }

        @Override
        public int write(RingSource source, int length) {
            throw new UnsupportedOperationException("no file regions over the memory ring");
        }

        @Override
        public void publish() {
            if (keeps && (failure != null || stopped)) {
                return; // a broken path delivers nothing: what is staged is sent again over tcp
            }
            out.published += out.staged.readableBytes();
            out.ring.writeBytes(out.staged);
            out.staged.clear();
        }

        @Override
        public int readable() {
            return stopped ? 0 : in.ring.readableBytes();
        }

        @Override
        public int read(ByteBuf dst, int index, int max) {
            int n = Math.min(max, readable());
            dst.setBytes(index, in.ring, in.ring.readerIndex(), n);
            in.ring.skipBytes(n);
            in.ring.discardReadBytes();
            in.consumed += n;
            return n;
        }

        @Override
        public void discard() {
            in.consumed += in.ring.readableBytes();
            in.ring.clear();
        }

        @Override
        public boolean peerOutputDone() {
            return in.outputDone;
        }

        @Override
        public void markOutputDone() {
            if (keeps && (failure != null || stopped)) {
                return; // as for publish: a broken path delivers nothing, the end of output neither
            }
            out.outputDone = true;
        }

        @Override
        public IOException failure() {
            return failure;
        }

        @Override
        public boolean takeProbeWanted() {
            boolean wanted = probeWanted;
            probeWanted = false;
            return wanted;
        }

        @Override
        public void probeAnswered() {
            probesAnswered.incrementAndGet();
        }

        @Override
        public boolean failsOver() {
            return keeps;
        }

        @Override
        public long stopForFailover() {
            stopped = true;
            return in.published;
        }

        @Override
        public ByteBuf unread(long end) {
            assertEquals(end - in.consumed, in.ring.readableBytes(), "the unread bytes end where the ring's do");
            ByteBuf copy = Unpooled.buffer(in.ring.readableBytes());
            copy.writeBytes(in.ring, in.ring.readerIndex(), in.ring.readableBytes());
            return copy;
        }

        @Override
        public ByteBuf unreceived(long from) throws RingProtocolException {
            if (from < out.consumed || from > out.published) {
                throw new RingProtocolException("impossible received end " + from);
            }
            assertFalse(out.log.readableBytes() < out.produced(), "the log holds every byte written");
            return Unpooled.copiedBuffer(out.log.slice((int) from, (int) (out.produced() - from)));
        }

        @Override
        public void close() {
            out.closed = true;
        }
    }

    /** The real ring link's logic over a {@link Ring}, polled every turn of the loop (as shm's is). */
    static final class Polled extends RingConnectionLink {
        final Ring ring;
        /** How many writes found no credit. */
        int creditWaits;
        private VSocketIoHandler handler;
        private final VSocketLoopPoller poller = new VSocketLoopPoller() {
            @Override
            public int poll() {
                return ready();
            }

            @Override
            public boolean armAndCheck() {
                return hasWork();
            }
        };

        Polled(LinkHost host, NativeSocket socket, LinkSettings config, Ring ring) {
            super(host, socket, config, ring);
            this.ring = ring;
        }

        @Override
        protected VSocketLink ringKind() {
            return VSocketLink.SHM;
        }

        @Override
        public void start(boolean reading) {
            super.start(reading);
            handler = host.ioHandler();
            handler.addPoller(poller);
        }

        @Override
        public void write(ChannelOutboundBuffer in) throws Exception {
            super.write(in);
            if (waitingForCredit) {
                creditWaits++;
            }
        }

        /** What {@link #ready()} would act on: the loop must not block while there is some. */
        private boolean hasWork() {
            if (closed) {
                return false;
            }
            return ring.failure != null && !ring.stopped
                    || waitingForCredit && (ring.credit() > 0 || peerLeft())
                    || !peerEndSeen && ring.peerOutputDone()
                    || ring.readable() > 0 && (readInterest || host.isInputShutdown());
        }

        boolean waitsForCredit() {
            return waitingForCredit;
        }

        /**
         * The peer's death waits for a grace after its control connection ended without its end of
         * output (as rdma's: the end travels apart), which never runs out here: a test fails the ring's
         * path meanwhile (its queue pair died with it). Set before the control connection ends.
         */
        volatile boolean deathWaitsForGrace;
        /** The control connection ended before the peer's end of output (and the death waits, if it does). */
        volatile boolean controlEndedFirst;

        @Override
        protected void controlEndedFirst() {
            controlEndedFirst = true;
            if (!deathWaitsForGrace) {
                super.controlEndedFirst();
            }
        }

        /**
         * A reset read before the peer's end of output is held for a grace (as rdma's: the end may be on its
         * way), which runs out here only when a test says ({@link #graceRunsOut}). Set before the reset is read.
         */
        volatile boolean resetWaitsForGrace;
        /** A reset was read before the peer's end, and held. */
        volatile boolean resetHeld;
        /** The peer's abort came on the link (as rdma's reset message): see {@link #peerAborts}. */
        private boolean peerAborted;

        @Override
        protected void controlResetFirst(IOException reset) {
            if (resetWaitsForGrace) {
                resetHeld = true;
                holdReset(reset);
            } else {
                super.controlResetFirst(reset);
            }
        }

        /** On the loop: the held reset's grace ran out. */
        void graceRunsOut() {
            reportHeldReset();
        }

        /** On the loop: the peer's abort came on the link, which then looks at it. */
        void peerAborts() {
            peerAborted = true;
            ready();
        }

        @Override
        protected boolean peerReset() {
            return peerAborted;
        }

        @Override
        protected boolean peerLeft() {
            return ring.in.closed || peerAborted;
        }

        @Override
        protected void end(boolean abortive) {
            if (!abortive) {
                ring.markOutputDone();
            }
            ring.close();
            if (handler != null) {
                handler.removePoller(poller);
                handler = null;
            }
        }
    }
}
