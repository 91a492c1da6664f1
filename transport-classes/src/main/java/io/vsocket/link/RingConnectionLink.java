package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.FileRegion;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.StreamLink;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;

/**
 * What the shm and rdma links share: the bytes go through a ring ({@link StreamLink}, the same ring
 * protocol on both), and the TCP socket stays open as the control connection, on which nothing but
 * its end may come — or, when the ring's own path fails on a link that can hand its stream over,
 * the fail-over to tcp ({@link RingFailover}), after which the socket carries the stream and this
 * link drives it as the tcp link does. The subclasses say how the link is woken (a poller and a
 * doorbell, or the loop's completion queue) and how it ends.
 */
public abstract class RingConnectionLink implements ConnectionLink {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RingConnectionLink.class);
    protected final LinkHost host;
    protected final NativeSocket socket;
    protected final LinkSettings config;
    private final StreamLink ring;
    private final RingGather gather = new RingGather();
    private FileRegionWriter regionWriter;
    /** The application reads now (Netty's read interest, which the ring has no epoll flag for). */
    protected boolean readInterest;
    /** Writes wait in the outbound buffer for credit: a flush follows when the peer returns some. */
    protected boolean waitingForCredit;
    /** The peer's end of output has been seen and reported (a ring link's hang-up). */
    protected boolean peerEndSeen;
    /** The control connection ended: the peer closed (cleanly, or it would have been cut off). */
    private boolean peerClosed;
    /**
     * The control connection failed (an error reading or answering on it: a reset, or the socket
     * killed under the channel): the link then ends abortively, so the peer sees the connection cut
     * as it would over TCP, never a clean end of stream that only looks complete.
     */
    private boolean controlFailed;
    /**
     * The peer died (its control connection ended before its end of output) while bytes it had
     * published were still unread, or the control connection failed while the application reads:
     * the reads take what the ring holds first, as a socket's reads take what a peer sent before it
     * died or reset, and meet this error once the ring is empty.
     */
    private IOException peerGone;
    /** The peer's death was reported by a read; the next read meets the end of stream. */
    private boolean goneReported;
    /** That end was read. */
    private boolean goneEndRead;
    private boolean taskPending;
    /**
     * The control connection ended before the peer's end of output, and the peer's death waits for a
     * grace in which that end may still come (rdma: see {@link #controlEndedFirst()}); cleared by the
     * end, or by {@link #peerDied()}.
     */
    private boolean deathPending;
    /**
     * The control connection's reset, read before the peer's end of output came on the link, and held
     * while that end may still come (rdma: see {@link #controlResetFirst}): the end makes it no error,
     * as on epoll, where TCP keeps a peer's end ahead of its reset; the peer's abort, the path's failure
     * or the grace running out report it. Writes wait meanwhile ({@link #deathPending} is set with it).
     */
    private IOException resetHeld;
    /**
     * Writes wait (see {@link #write}): for the peer's end or death to be known, for the reads to
     * report a dead peer's error, or for the hang-up read of a peer that closed. Once that is done
     * they are flushed again, and go as after any peer's close ({@link #takenAfterPeersClose}), or fail with the channel.
     */
    private boolean writesHeld;
    /** A flush with bytes in it was taken after the peer's clean close (see {@link #takenAfterPeersClose}). */
    private boolean tookWriteAfterPeersClose;
    /** The hang-up read of the peer's end runs (see {@link #ready()}): writes its handlers make wait for its end. */
    private boolean inHangUpRead;
    /** Started by its channel: a link the channel never started (it closed during the hello) has no end to send. */
    private boolean started;
    protected boolean closed;
    /** This side's output was shut down (its end is in the ring, or on its way there). */
    private boolean outputShut;
    /**
     * The peer's bytes were dropped after the application shut its input (so the peer never waits for
     * credit): unread all the same, so the close resets the connection, as a socket's close with bytes in
     * its receive queue does (a probe: epoll's writer read the reset, vsocket's a clean end).
     */
    private boolean droppedAfterInputShut;
    /** The stream's hand-over to tcp, once the ring's path failed: null while the ring carries it. */
    private RingFailover failover;
    /** A control message read so far (see {@link ControlMessage}). */
    private final ByteBuf control = Unpooled.buffer(ControlMessage.SIZE);
    /** The value of this side's latest probe: only its answer counts. */
    private long lastProbe;

    protected RingConnectionLink(LinkHost host, NativeSocket socket, LinkSettings config, StreamLink ring) {
        this.host = host;
        this.socket = socket;
        this.config = config;
        this.ring = ring;
    }

    /** Which ring link this is (the link's {@link #kind()} until a fail-over to tcp). */
    protected abstract VSocketLink ringKind();

    @Override
    public final VSocketLink kind() {
        return failover != null && failover.onTcp() ? VSocketLink.TCP : ringKind();
    }

    /** The link this connection left for tcp when its path failed, or null. */
    @Override
    public VSocketLink failedOverFrom() {
        return failover != null ? ringKind() : null;
    }

    @Override
    public void start(boolean reading) {
        started = true;
        readInterest = reading;
        host.watch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
    }

    /** The peer closed its end of the link or reset it: what is left to write can never arrive. */
    protected abstract boolean peerLeft();

    /**
     * The peer reset the link (rdma: its abortive close): a write waiting for credit fails now. A
     * peer that closed cleanly does not count here: its last bytes and its end are read first, and
     * the writes fail once its control connection ends.
     */
    protected boolean peerReset() {
        return false;
    }

    /** Before a write: news the loop has not handed over yet (a reset, credit) can count now. */
    protected void beforeWrite() throws IOException {
    }

    /** Bytes went into the ring (a write or a region's). */
    protected void published() {
    }

    /**
     * The control connection ended before the peer's end of output came on the link: the peer died,
     * or (rdma, whose end travels apart from TCP) its end may still be on the way.
     */
    protected void controlEndedFirst() {
        peerDied();
    }

    /**
     * The control connection was reset before the peer's end of output came on the link. On shm the
     * peer's end goes into the ring before its socket is reset, so none is coming: the reset is
     * reported, once the reads have taken what the ring holds. rdma's end travels on the queue pair,
     * apart from the reset, and may come after it: it holds the reset ({@link #holdReset}) for a grace.
     */
    protected void controlResetFirst(IOException reset) {
        failAfterTheRing(reset, false);
    }

    /**
     * Holds {@code reset} (see {@link #resetHeld}) until the peer's end comes (then it is no error),
     * its abort or the path's failure comes instead, or {@link #reportHeldReset()} is called.
     */
    protected final void holdReset(IOException reset) {
        resetHeld = reset;
        deathPending = true;
    }

    /** The grace for a held reset ran out without the peer's end: the reset is reported, after the ring's bytes. */
    protected final void reportHeldReset() {
        if (resetHeld != null && !closed && host.isOpen() && !ring.peerOutputDone()) {
            failAfterTheRing(takeHeldReset(), false);
        }
    }

    private IOException takeHeldReset() {
        IOException reset = resetHeld;
        resetHeld = null;
        deathPending = false;
        return reset;
    }

    /** Lets go of the ring's link; {@code abortive}: {@code SO_LINGER} 0 asked for a reset. */
    protected abstract void end(boolean abortive);

    /**
     * Copies flushed buffers into the peer's ring as far as credit goes and publishes them once: one
     * cursor store (and at most one doorbell) per flush on shm, one chain of posted writes on rdma,
     * however many buffers it gathered. A {@link FileRegion} among them ends that run: its bytes go
     * into the ring on their own (read from the file straight into ring memory, or copied from the
     * buffers the region writes), published before its progress is reported. Without credit the
     * rest waits in the outbound buffer, whose water marks flip writability as usual.
     */
    @Override
    public void write(ChannelOutboundBuffer in) throws Exception {
        if (failover != null) {
            failover.write(in);
            return;
        }
        beforeWrite();
        if (resetHeld != null) {
            // A reset held for the peer's end (see controlResetFirst): the write waits for which it was, as below
            // for an early end; even if the peer's abort, or the path's failure, is known already (a poll here may
            // have brought it before its listener ran), it waits for the reads to take the ring's bytes first.
            writesHeld = true;
            readyLater();
            return;
        }
        if (ring.failure() != null && !readsDeadPeersBytes()) {
            if (failOver(ring.failure())) {
                return; // the writes wait for the switch
            }
            // Nothing to send (epoll writes nothing for an empty buffer, whatever became of its socket), or a peer
            // that closed cleanly before the path failed (rdma: its queue pair went with it): as after its close.
            if (peerClosed ? takenAfterPeersClose(in) : dropEmptyAtHead(in)) {
                return;
            }
            throw linkFailure();
        }
        if (peerGone != null) {
            // The dead peer's bytes are still to be read, and a failed write would close the channel
            // before they are: the writes wait, and fail once the reads report the death (see takeGone).
            writesHeld = true;
            return;
        }
        if (deathPending && !goneReported && !peerLeft()) {
            // The control connection ended before the peer's end of output, and whether it closed or died
            // waits for a grace (rdma: the end travels on the ring's own path, and may come after the
            // connection's): a write that failed now would close the channel with the peer's last bytes
            // unread, and call a clean end a reset. The writes wait for which it was: the end (then
            // they fail as after any peer's close) or the death (then with it).
            writesHeld = true;
            return;
        }
        if (peerClosed || peerLeft()) {
            if ((!peerEndSeen || inHangUpRead) && ring.peerOutputDone()) {
                // The peer closed after its end of output, and the hang-up read that takes its last bytes and
                // the end (ready()) has not run yet, or is running: this write came first, from a handler or a
                // task in the same turn, or from a handler of that read. Failing it now would close the channel
                // with those bytes unread (a failed write closes the channel, and its read loop stops), where
                // epoll's write to a peer that closed is taken and its reads still get what the peer sent, then
                // the end. The writes wait for that read, then go as after any peer's close (takenAfterPeersClose).
                writesHeld = true;
                if (!inHangUpRead) {
                    readyLater();
                }
                return;
            }
            if (takenAfterPeersClose(in)) {
                return;
            }
            throw new IOException("Connection reset by peer: the " + kind().name().toLowerCase() + " link's peer has "
                    + "closed, " + in.size() + " buffers cannot be sent");
        }
        int spin = config.getWriteSpinCount();
        boolean blocked = false;
        Object msg;
        while ((msg = in.current()) != null) {
            if (msg instanceof FileRegion region) {
                if (spin == 0) {
                    break;
                }
                int status = regionWriter().write(in, region, ring);
                if (status != 0) {
                    published();
                }
                if (status < 0) {
                    blocked = true;
                    break;
                }
                spin -= status;
            } else if (!writeBuffers(in)) {
                blocked = true;
                break;
            }
            if (closed) {
                return; // a listener closed the channel
            }
        }
        if (msg != null && !blocked) {
            // Spun out on regions that did not end with credit left (one whose transferTo writes a
            // little at a time): let other channels run, then go on from a task.
            waitingForCredit = false;
            host.flushLater();
        } else {
            waitingForCredit = blocked && in.current() != null;
        }
    }

    /**
     * Writes to a peer that closed cleanly (its end read, no reset), taken as a TCP socket takes them: an empty
     * buffer or region completes (epoll writes nothing for it), and the first flush with bytes in it is taken and
     * dropped — a socket's kernel sends them, and only the peer kernel's answer, a reset, fails the writes after
     * it. So a half-closed channel whose peer went stays open as on epoll: a TLS handler's flush of nothing, or a
     * reply to a request that came with the peer's end, no longer failed and closed it (helper-70's probe: 74–92
     * of 100 such servers closed on shm, 0–2 on epoll). Its next write with bytes fails, as there. True when
     * nothing is left to fail.
     */
    private boolean takenAfterPeersClose(ChannelOutboundBuffer in) throws IOException {
        if (!dropEmptyAtHead(in)) {
            // A reset, read or on its way, fails them all: the control connection's (controlFailed), an rdma peer's
            // abort, or the one a peer that closed with this side's bytes unread sends (its kernel's, over TCP).
            if (!peerEndSeen || controlFailed || peerReset() || peerLeftBytesUnread() || tookWriteAfterPeersClose) {
                return false;
            }
            tookWriteAfterPeersClose = true;
            Object msg;
            while ((msg = in.current()) != null) {
                // Its promise succeeds and its progress is reported, as the kernel's taking it would; its bytes go nowhere.
                in.progress(msg instanceof ByteBuf buf ? buf.readableBytes()
                        : ((FileRegion) msg).count() - ((FileRegion) msg).transferred());
                in.remove();
            }
        }
        return true;
    }

    /**
     * The peer closed with bytes of this side's unread in its ring: its close then ends the link as a reset (see
     * the close path), which may not have been read yet. Links that cannot tell say false.
     */
    protected boolean peerLeftBytesUnread() throws IOException {
        return false;
    }

    /** Completes the empty buffers and regions at the head; true when that was all there was. */
    private static boolean dropEmptyAtHead(ChannelOutboundBuffer in) {
        Object msg;
        while ((msg = in.current()) != null) {
            boolean empty = msg instanceof ByteBuf buf ? !buf.isReadable()
                    : msg instanceof FileRegion region && region.transferred() >= region.count();
            if (!empty) {
                return false;
            }
            in.remove();
        }
        return true;
    }

    /**
     * Copies the buffers at the head into the ring (up to a {@link FileRegion}, if one follows) and
     * publishes them; false when credit ran out before they did.
     */
    private boolean writeBuffers(ChannelOutboundBuffer in) throws Exception {
        RingGather g = gather;
        g.start(ring, ring.credit());
        in.forEachFlushedMessage(g);
        if (g.written > 0) {
            published();
            // Publish before completing any promise: a listener may close the channel at once.
            ring.publish();
            in.removeBytes(g.written);
        }
        // Empty buffers at the head (no credit, or only empty ones before a region): drop them.
        while (in.current() instanceof ByteBuf b && !b.isReadable()) {
            in.remove();
        }
        return !g.full;
    }

    /** Made on the first region: most channels never write one. */
    private FileRegionWriter regionWriter() {
        FileRegionWriter w = regionWriter;
        if (w == null) {
            w = regionWriter = new FileRegionWriter(socket, config);
        }
        return w;
    }

    @Override
    public int read(ByteBuf buf) throws IOException {
        if (failover != null) {
            return failover.read(buf);
        }
        // The end mark first: once it is seen, the cursor read after it covers every byte.
        boolean ended = ring.peerOutputDone();
        if (ring.readable() > 0) {
            // Credit goes back as the bytes are copied out.
            return ring.read(buf, buf.writerIndex(), buf.writableBytes());
        }
        if (peerGone != null) {
            throw takeGone();
        }
        if (goneReported) {
            goneEndRead = true;
            return NativeSocket.EOF; // (after the error, as a socket's read after its reset: a half-closed channel's last read)
        }
        return ended ? NativeSocket.EOF : 0;
    }

    @Override
    public void readInterest(boolean wanted) {
        readInterest = wanted;
        if (failover != null) {
            failover.readInterest(wanted);
        }
    }

    /**
     * Input is shut: only this channel's view, since the control connection must still report the
     * peer's close (and ring bytes that still come are read and dropped, so the peer never stalls on
     * credit).
     */
    @Override
    public void shutdownInput() {
        if (failover != null) {
            try {
                failover.shutdownInput();
            } catch (IOException e) {
                host.failed(e);
            }
        }
    }

    @Override
    public void shutdownOutput() throws IOException {
        if (failover != null) {
            failover.shutdownOutput();
            return;
        }
        outputShut = true;
        ring.markOutputDone();
    }

    /**
     * Runs what the ring's state calls for: a flush when credit came back, a read when bytes came,
     * the hang-up when the peer's end came, a close when the link failed. The shm poller calls it
     * every turn; on rdma, the completions that changed the link do. Returns how much it did.
     */
    protected final int ready() {
        if (closed || failover != null) {
            return 0;
        }
        try {
            if (resetHeld != null && !ring.peerOutputDone() && (ring.failure() != null || peerReset())) {
                // Instead of the peer's end, its abort came (it reset without ending its output), or the path's
                // failure (it is gone): the held reset stands, reported once the reads have taken the ring's bytes.
                failAfterTheRing(takeHeldReset(), false);
                return 1;
            }
            if (ring.failure() != null) {
                if (failOver(ring.failure())) {
                    return 1;
                }
                if (!readsDeadPeersBytes()) {
                    if (!(peerClosed && (peerEndSeen || goneReported))) {
                        throw linkFailure();
                    }
                    // The peer's end, or its error, was read already, and its control connection is gone: the path's
                    // failure since (rdma: its queue pair went with it) is no news, and a second report would reach a
                    // channel that stayed open for its output (half-closure). Writes waiting for credit fail now; the
                    // reads below still run (the read that reports the end after the error, say).
                    if (waitingForCredit) {
                        waitingForCredit = false;
                        host.flushReady();
                    }
                }
            }
            if (ring.takeProbeWanted()) {
                try {
                    probe();
                } catch (IOException e) {
                    controlFailed = true;
                    throw e;
                }
            }
            int work = 0;
            if (waitingForCredit && (ring.credit() > 0 || peerReset())) {
                waitingForCredit = false;
                host.flushReady();
                work++;
            }
            if (closed) {
                return work;
            }
            if (!peerEndSeen && ring.peerOutputDone()) {
                // The hang-up, as epoll's RDHUP: read what is left and report the end, reading or
                // not; then, the input being shut, read once more to report that all was read. If
                // a read already met the end (it was reading when the end came), the first call
                // here is that second report.
                peerEndSeen = true;
                deathPending = false;
                resetHeld = null; // the peer ended its output, then reset: no error (see controlBroke)
                inHangUpRead = true;
                try {
                    host.hangUpReady();
                    if (host.isOpen() && host.isInputShutdown() && !closed) {
                        host.readReady();
                    }
                } finally {
                    inHangUpRead = false;
                }
                if ((writesHeld || peerClosed && waitingForCredit) && host.isOpen() && !closed) {
                    // Held while the end was on its way (see write), or waiting for credit from a peer whose control
                    // connection is gone (its reset held, or its early end): nothing takes them now. Only after the
                    // reads, which took the peer's last bytes (a failed write closes the channel).
                    writesHeld = false;
                    waitingForCredit = false;
                    host.flushReady();
                }
                return work + 1;
            }
            if (host.isInputShutdown() && !readInterest) {
                if (peerGone != null) {
                    reportGoneNow(); // the application shut its input (without half-closure) first
                    return work + 1;
                }
                if (ring.readable() > 0) {
                    droppedAfterInputShut = true;
                }
                ring.discard();
            } else if (readInterest && (ring.readable() > 0 || ring.peerOutputDone() || peerGone != null
                    || goneReported && !goneEndRead)) {
                host.readReady();
                work++;
            } else if (peerGone != null) {
                // A dead peer (its path failed since: readsDeadPeersBytes) and an application that
                // does not read: the hang-up read, as in failAfterTheRing.
                hangUpRead();
                work++;
            }
            return work;
        } catch (IOException e) {
            host.failed(e);
            return 1;
        }
    }

    /** Whether the link has nothing of its own on its loop but what a subclass puts there: no task queued, no fail-over under way. */
    protected final boolean idleOnLoop() {
        return started && !closed && !taskPending && failover == null;
    }

    /** Runs {@link #ready()} from a task (once, however often asked before it runs). */
    protected final void readyLater() {
        if (!taskPending) {
            taskPending = true;
            host.eventLoop().execute(() -> {
                taskPending = false;
                ready();
            });
        }
    }

    /**
     * The control connection is readable: control messages may come ({@link ControlMessage}: a probe,
     * answered at once; the answer to this side's; the peer's fail-over message, after which the
     * stream goes on there), or its end. An end without the peer's end of output means its process
     * died (the kernel closed its socket); anything else is a broken protocol: the stream is cut,
     * and the channel closes with an error.
     */
    @Override
    public void socketReady(VSocketIoEvent event) {
        if (failover != null) {
            failover.socketReady(event);
            return;
        }
        while (!closed && failover == null) {
            int n;
            try {
                // No further than the message under way: what follows a fail-over message is the stream, over tcp.
                n = socket.read(Scratch.address(), ControlMessage.SIZE - control.readableBytes());
            } catch (IOException e) {
                controlBroke(e);
                return;
            }
            if (n == 0) {
                return;
            }
            if (n == NativeSocket.EOF) {
                controlEnded();
                return;
            }
            control.writeBytes(Scratch.segment().asSlice(0, n).asByteBuffer());
            try {
                if (!controlMessage()) {
                    return;
                }
            } catch (IOException e) {
                controlFailed = true;
                host.failed(e);
                return;
            }
        }
    }

    /** Acts on the control bytes read so far; false when the channel is failing, or the stream went over to tcp. */
    private boolean controlMessage() throws IOException {
        if (!ControlMessage.startsLikeOne(control)) {
            throw new RingProtocolException("the peer sent " + control.readableBytes() + " bytes on the control connection of "
                    + kind().name().toLowerCase() + " link that are no control message");
        }
        if (control.readableBytes() < 4) {
            return true; // every magic starts alike: which one it is, its fourth byte says
        }
        if (ControlMessage.magic(control) == ControlMessage.FAILOVER) {
            // The bytes read so far go to the fail-over, which reads the rest of the message.
            if (!failOver(null)) {
                throw new RingProtocolException("the peer sent a fail-over message on the control connection of "
                        + kind().name().toLowerCase() + " link, which this side cannot follow");
            }
            return false;
        }
        if (control.readableBytes() < ControlMessage.SIZE) {
            return true;
        }
        int magic = ControlMessage.magic(control);
        long value = ControlMessage.value(control);
        control.clear();
        if (magic == ControlMessage.PROBE) {
            ControlMessage.send(socket, ControlMessage.ANSWER, value);
        } else if (value == lastProbe) {
            ring.probeAnswered(); // (an answer to an earlier probe says nothing of the latest quiet spell)
        }
        return true;
    }

    /**
     * The control connection failed (the peer reset it, or it was killed here): reported as a socket's
     * read reports a reset — after what the peer had published is read, and through the read loop, so
     * that an application that allows half-closure sees its input end as on epoll.
     */
    private void controlBroke(IOException e) {
        controlFailed = true;
        host.unwatch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        peerClosed = true;
        if (ring.peerOutputDone() && host.isOpen()) {
            // The peer ended its output and then reset: as on epoll, where TCP keeps the end ahead of the
            // reset and the reads meet the end (a half-closed channel then hears nothing more), nothing reports
            // it. The reads take what is left and the end (ready()'s hang-up read, if it has not run yet); the
            // writes fail from now on (peerClosed), as a write to a reset socket does — those that wait for
            // credit that can never come, now. (On rdma the end travels apart from the reset and may come
            // after it: controlResetFirst.)
            logger.debug("{}: the peer reset the connection after its end of output", host, e);
            if (!peerEndSeen) {
                readyLater();
            }
            if (waitingForCredit) {
                waitingForCredit = false;
                host.flushReady();
            }
            return;
        }
        controlResetFirst(e);
    }

    /**
     * Fails the channel with {@code e} through its reads, once they have taken what the ring holds
     * (see {@link #peerGone}); at once when {@code now}, or when the application shut its input. An
     * application that does not read gets it all now, as from epoll's hang-up read, which takes what a
     * dead or resetting peer had sent and then its end, auto-read or not (else a channel whose peer
     * died would wait for a read that may never come).
     */
    private void failAfterTheRing(IOException e, boolean now) {
        if (now || host.isInputShutdown() || host.isClosing()) {
            host.failed(e);
            return;
        }
        peerGone = e;
        waitingForCredit = false; // (the writes wait for the report: see write)
        if (readInterest) {
            host.readReady();
        } else {
            hangUpRead();
        }
    }

    /**
     * The hang-up read of a dead or resetting peer (see {@link #failAfterTheRing}); then, where the
     * input is half-closed, the read that reports all was read, as after the peer's end (see ready()).
     * A handler that shut the input, without half-closure, in the middle of it stopped the read short
     * of the error: the channel fails with it now (it would wait for ever, its writes held for it).
     */
    private void hangUpRead() {
        host.hangUpReady();
        if (closed || !host.isOpen() || !host.isInputShutdown()) {
            return;
        }
        if (peerGone != null) {
            reportGoneNow();
        } else {
            host.readReady();
        }
    }

    /** The dead or resetting peer's error, at once: the application shut its input before the reads reached it. */
    private void reportGoneNow() {
        host.failed(takeGone());
    }

    /** The dead or resetting peer's error, taken to be reported (once: the reads after it meet the end). */
    private IOException takeGone() {
        IOException gone = peerGone;
        peerGone = null;
        goneReported = true;
        flushHeldWrites();
        return gone;
    }

    /**
     * Writes held for a peer's death or its report go on now, from a task (after the report has reached
     * the pipeline): they fail as writes to a gone peer do, or with the channel if it closed meanwhile.
     * A channel that allows half-closure stays open after the error, and they would wait for good.
     */
    private void flushHeldWrites() {
        if (writesHeld) {
            writesHeld = false;
            host.flushLater();
        }
    }

    @Override
    public boolean takesWritesBeforeClose() {
        return started && !closed && failover == null && !peerClosed && !controlFailed && peerGone == null && !goneReported
                && !outputShut && ring.failure() == null && !peerLeft();
    }

    /** The control connection ended: the peer closed, or its process died. */
    private void controlEnded() {
        host.unwatch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        peerClosed = true;
        if (!ring.peerOutputDone()) {
            deathPending = true;
            controlEndedFirst();
            return;
        }
        if (waitingForCredit) {
            // Credit will never come: fail the pending writes now.
            host.flushReady();
        }
        // The rest of the ring and the end of input are reported by the hang-up in ready() (the
        // peer's end mark is set, so the loop does not block before it runs).
    }

    /** The ring asks whether the peer is still there (its requests have had no answer for a while). */
    private void probe() throws IOException {
        if (failover == null && !closed && !peerClosed) {
            lastProbe = System.nanoTime();
            ControlMessage.send(socket, ControlMessage.PROBE, lastProbe);
        }
    }

    /**
     * Whether the reads still take what a dead peer had published (see {@link #peerGone}) although
     * the ring's path failed since: on rdma, its queue pair died with it, so the credit those reads
     * return fails, but the bytes lie in this side's memory, whole (a completion said so for each).
     * A peer that broke the protocol gets nothing of the sort.
     */
    private boolean readsDeadPeersBytes() throws IOException {
        if (ring.failure() instanceof RingProtocolException) {
            return false;
        }
        if (peerGone == null && !goneReported && peerClosed && !controlFailed && !ring.peerOutputDone()
                && !host.isInputShutdown() && ring.readable() > 0) {
            // The control connection had ended without the peer's end of output, and its death waited
            // for a grace period (the end travels on the ring's own path, and may come late): the path
            // failing since says the peer died. Its bytes are read first, as after peerDied.
            peerGone = linkFailure();
            waitingForCredit = false;
        }
        return peerGone != null;
    }

    /** Whether the peer's end of output has come (the peer closed cleanly, or half-closed). */
    protected final boolean peerOutputDone() {
        return ring.peerOutputDone();
    }

    /**
     * What the channel fails with when the ring's path failed and the stream cannot go on: where the
     * control connection had already ended without the peer's end of output, the peer died (its
     * queue pair went with it, which is why the path failed), and the error says so.
     */
    private IOException linkFailure() {
        IOException failure = ring.failure();
        if (peerClosed && !ring.peerOutputDone() && !(failure instanceof RingProtocolException)) {
            return new IOException(PEER_DIED + "the peer's end of the " + kind().name().toLowerCase() + " link closed without "
                    + "ending its stream: its process died or it dropped the connection (and then: "
                    + failure.getMessage() + ")", failure);
        }
        return failure;
    }

    /**
     * The peer's process died, or it dropped the connection, without ending its stream: the channel
     * fails with an error that says so — once the application has read what the peer had published
     * (a dead peer's bytes are delivered, as a socket delivers what a dead peer sent), at once where
     * nothing is left to read or the application no longer reads. Writes fail now: nothing takes them.
     */
    protected final void peerDied() {
        deathPending = false;
        if (peerGone != null) {
            return; // being told through the reads (the path failed first): the held writes wait for it
        }
        if (goneReported) {
            flushHeldWrites(); // already told
            return;
        }
        IOException died = new IOException(PEER_DIED + "the peer's end of the " + kind().name().toLowerCase()
                + " link closed without ending its stream: its process died or it dropped the connection");
        int unread;
        try {
            unread = ring.readable();
        } catch (IOException e) {
            died.addSuppressed(e);
            unread = 0; // what it left is no stream to read
        }
        failAfterTheRing(died, unread == 0);
    }

    /**
     * The ring's path failed here ({@code cause}), or the peer's fail-over message came (null): hands
     * the stream over to tcp when the ring can and tcp is among the channel's links; false when not
     * (the caller then fails the channel as before). A peer that broke the protocol is no path failure.
     */
    private boolean failOver(IOException cause) {
        if (failover != null) {
            return true;
        }
        if (!ring.failsOver() || cause instanceof RingProtocolException || ring.failure() instanceof RingProtocolException
                || peerClosed || closed || !host.isOpen() || !config.getLinks().contains(VSocketLink.TCP)) {
            return false;
        }
        try {
            failover = RingFailover.start(host, socket, config, ring, ringKind(), readInterest, outputShut, cause);
        } catch (IOException | RuntimeException e) {
            if (cause != null) {
                cause.addSuppressed(e);
                return false;
            }
            host.failed(e);
            return true;
        }
        waitingForCredit = false;
        if (control.isReadable()) {
            // Part of a message of the peer's, read before: the fail-over reads on from there (a probe
            // or an answer it passes over, or the peer's own fail-over message).
            try {
                failover.messageBytes(control);
            } catch (IOException e) {
                host.failed(e);
            }
            control.clear();
        }
        return true;
    }

    @Override
    public final void close() {
        if (closed) {
            return;
        }
        closed = true;
        control.release();
        if (failover != null) {
            if (regionWriter != null) {
                regionWriter.close();
            }
            failover.close();
            return;
        }
        if (regionWriter != null) {
            regionWriter.close();
        }
        if (started) {
            // A failed control connection or ring ends the link as a reset: the peer must not read
            // a clean end of stream where this side's bytes were cut off. So does a close that leaves
            // the peer's bytes unread, as a socket's does.
            boolean unread = unreadInput();
            if (unread && !controlFailed) {
                // The control connection closes with a reset too, as a socket's close with bytes unread in
                // its receive queue does: the peer reads the kernel's reset, not a bare end of the control
                // connection without the ring's end mark (which says its process died).
                makeCloseAbortive(socket, this);
            }
            end(controlFailed || ring.failure() != null || closeIsAbortive(socket) || unread);
        } else {
            ring.close();
        }
    }

    /**
     * How a dead peer's error begins: as the reset a socket reads where a peer's process died with
     * bytes unread, so that what classifies resets by their message (Reactor Netty's premature close
     * and its retry, as a probe found: it took the bare message for another error) takes it for one.
     */
    public static final String PEER_DIED = "Connection reset by peer: ";

    /**
     * Whether this side leaves bytes of the peer's unread in its ring: a socket closed with bytes
     * unread in its receive queue resets the connection, and so does the link, so that the peer knows
     * its last bytes were not taken (a probe: the peer saw a clean end where epoll's saw the reset).
     */
    private boolean unreadInput() {
        try {
            return droppedAfterInputShut || ring.readable() > 0;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Makes the coming close of {@code socket} a reset ({@code SO_LINGER} 0): bytes were dropped, and the
     * peer must not take the end of the connection for the end of the stream. {@code owner} names the
     * channel in the debug line if the socket refuses (it is going anyway).
     */
    public static void makeCloseAbortive(NativeSocket socket, Object owner) {
        try {
            if (socket.isOpen() && socket.getLinger() != 0) {
                socket.setLinger(0);
            }
        } catch (IOException e) {
            logger.debug("{}: could not make the close abortive", owner, e);
        }
    }

    /** {@code SO_LINGER} 0 asks for an abortive close: the peer then sees a reset, as over TCP. */
    public static boolean closeIsAbortive(NativeSocket socket) {
        try {
            return socket.isOpen() && socket.getLinger() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Copies flushed buffers into the ring until credit runs out or a {@link FileRegion} comes;
     * one per link, reused.
     */
    private static final class RingGather implements ChannelOutboundBuffer.MessageProcessor {
        private StreamLink link;
        private int credit;
        long written;
        /** Stopped at a buffer for want of credit (not at a region or the end). */
        boolean full;

        void start(StreamLink link, int credit) {
            this.link = link;
            this.credit = credit;
            this.written = 0;
            this.full = false;
        }

        @Override
        public boolean processMessage(Object msg) throws IOException {
            if (!(msg instanceof ByteBuf buf)) {
                return false; // a FileRegion: it goes on its own
            }
            int readable = buf.readableBytes();
            int n = link.write(buf, buf.readerIndex(), Math.min(readable, credit));
            credit -= n;
            written += n;
            if (n == readable && credit > 0) {
                return true;
            }
            full = true;
            return false;
        }
    }
}
