package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.WriteBufferWaterMark;
import io.vsocket.link.VSocketLink;
import io.vsocket.stream.RingProtocolException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The fail-over of a ring link to tcp ({@code RingFailover}) without a device: two
 * {@link VSocketSocketChannel}s joined by an in-memory ring pair that keeps what it sent (as the rdma
 * link does) and whose TCP control connections this test joins into one wire, so the fail-over's
 * messages and the stream after them travel between the two channels. A fault injected on one side
 * while both stream through a small ring (credit waits, unpublished bytes) leaves both streams whole
 * and in order, the applications without an error, and both channels on tcp; without tcp among the
 * links the fault closes the channel with its cause, as before.
 */
@Timeout(60)
class RingFailoverChannelTest {
    private static VSocketEventLoopGroup group;
    private static ServerSocket wireServer;

    @BeforeAll
    static void start() throws IOException {
        group = new VSocketEventLoopGroup(1);
        wireServer = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    @AfterAll
    static void stop() throws Exception {
        wireServer.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void bothStreamsArriveWholeWhenOneSidesRingFailsMidStream() throws Exception {
        for (boolean faultAtA : new boolean[] {true, false}) {
            Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
            byte[] ab = pattern(600_000, 1);
            byte[] ba = pattern(500_000, 2);
            p.a.write(ab);
            p.b.write(ba);
            await(() -> p.b.received() > 100_000 && p.a.received() > 100_000, "both streams under way");
            End victim = faultAtA ? p.a : p.b;
            victim.channel.eventLoop().submit(() -> {
                victim.ring.failure = new IOException("injected: the ring's path failed");
            }).sync();
            p.assertWholeOnTcp(ab, ba);
            for (End e : List.of(p.a, p.b)) {
                assertEquals(VSocketLink.SHM, e.channel.failedOverFrom());
                assertTrue(e.ring.stopped, "the ring was stopped");
            }
            // And the connection carries on over tcp both ways.
            byte[] more = pattern(70_000, 3);
            p.b.write(more);
            await(() -> p.a.received() == ba.length + more.length, "more bytes over tcp");
            p.close();
        }
    }

    @Test
    void aShutdownOutputBeforeTheFaultStillEndsThePeersInput() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
        p.b.channel.config().setAllowHalfClosure(true);
        p.b.channel.config().setAutoRead(false); // nothing read yet: a's bytes and its end wait in the ring
        byte[] ab = pattern(3000, 4);
        p.a.write(ab).sync();
        p.a.channel.shutdownOutput().sync();
        p.a.channel.eventLoop().submit(() -> {
            p.a.ring.failure = new IOException("injected");
        }).sync();
        await(() -> p.a.channel.link() == VSocketLink.TCP && p.b.channel.link() == VSocketLink.TCP, "the switch");
        p.b.channel.config().setAutoRead(true);
        await(() -> p.b.channel.isInputShutdown(), "b's input to end after a's bytes");
        assertArrayEquals(ab, p.b.bytes());
        assertEquals(List.of(), p.b.errors);
        p.close();
    }

    /**
     * A channel closed while its fail-over is still under way (its message sent, the peer's not yet
     * come, so its bytes after the peer's received end are not handed over): the peer must not take
     * the stream's end for a clean one. The close is a reset, and the peer's channel reports an
     * error with the short stream.
     */
    @Test
    void aChannelClosedBeforeItsBytesWereHandedOverResetsThePeer() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
        byte[] ab = pattern(600_000, 5);
        p.a.write(ab);
        await(() -> p.b.received() > 50_000, "a's stream under way");
        p.wire.pause(true); // neither side's fail-over message gets through yet
        p.a.channel.eventLoop().submit(() -> {
            p.a.ring.failure = new IOException("injected: the ring's path failed");
        }).sync();
        Thread.sleep(100); // a's fail-over starts and sends its message into the paused wire
        p.a.channel.close().sync();
        p.wire.pause(false);
        await(() -> !p.b.channel.isOpen(), "b to close");
        assertTrue(p.b.received() < ab.length, "a closed before its stream was through: " + p.b.received());
        assertFalse(p.b.errors.isEmpty(), "b took a short stream (" + p.b.received() + " of " + ab.length
                + " bytes) for a clean end");
        p.wire.close();
    }

    @Test
    void withoutTcpAmongTheLinksAFaultClosesTheChannelWithItsCause() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM));
        p.a.channel.eventLoop().submit(() -> {
            p.a.ring.failure = new IOException("injected: the ring's path failed");
        }).sync();
        await(() -> !p.a.channel.isOpen(), "a to close");
        assertEquals(1, p.a.errors.size(), p.a.errors::toString);
        assertTrue(p.a.errors.get(0).getMessage().contains("injected"), p.a.errors.get(0)::getMessage);
        assertNull(p.a.channel.failedOverFrom());
        p.close();
    }

    @Test
    void bytesOnTheControlConnectionThatAreNoFailOverMessageCloseTheChannel() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
        p.wire.inject(p.a, "sixteen garbage!".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        await(() -> !p.a.channel.isOpen(), "a to close");
        assertTrue(p.a.errors.stream().anyMatch(e -> e instanceof RingProtocolException), p.a.errors::toString);
        p.close();
    }

    /**
     * Probes on the control connection (a ring link whose requests have had no answer asks whether
     * its peer is still there): one is answered while both sides run on the ring, and nothing else
     * changes; probes and answers that precede a fail-over message are passed over by the side that
     * already failed over, and both streams still arrive whole.
     */
    @Test
    void probesOnTheControlConnectionAreAnsweredAndPassedOverOnceAFailOverBegan() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
        p.a.ring.probeWanted = true;
        await(() -> p.a.ring.probesAnswered.get() == 1, "a's probe to be answered");
        assertEquals(VSocketLink.SHM, p.a.channel.link());
        assertEquals(VSocketLink.SHM, p.b.channel.link());
        assertEquals(0, p.b.ring.probesAnswered.get(), "b asked nothing");

        byte[] ab = pattern(300_000, 6);
        byte[] ba = pattern(200_000, 7);
        p.a.write(ab);
        p.b.write(ba);
        await(() -> p.b.received() > 50_000 && p.a.received() > 50_000, "both streams under way");
        // Held on the wire: b's probe, then a's fail-over message. b answers nothing once it failed
        // over; a, already failing over, passes b's probe over; b meets a's message and follows.
        p.wire.pause(true);
        p.b.ring.probeWanted = true;
        p.a.ring.probeWanted = true;
        Thread.sleep(50); // both probes go into the paused wire
        p.a.channel.eventLoop().submit(() -> {
            p.a.ring.failure = new IOException("injected: the ring's path failed");
        }).sync();
        Thread.sleep(50);
        p.wire.pause(false);
        p.assertWholeOnTcp(ab, ba);
        assertEquals(1, p.a.ring.probesAnswered.get(), "the answer to a's second probe came once a was failing over: passed over");
        // And the connection carries on over tcp.
        byte[] more = pattern(70_000, 8);
        p.a.write(more);
        await(() -> p.b.received() == ab.length + more.length, "more bytes over tcp");
        p.close();
    }

    /**
     * A probe that arrives in pieces (its first bytes are alike for every control message) is taken
     * for a probe, not a fail-over; and the answer, to a probe the other side never sent, counts for
     * nothing there.
     */
    @Test
    void aProbeArrivingInPiecesStartsNoFailOverAndAnAnswerToNoProbeCountsForNothing() throws Exception {
        Pair p = Pair.open(4096, List.of(VSocketLink.SHM, VSocketLink.TCP));
        byte[] probe = java.nio.ByteBuffer.allocate(16).putInt(0x7673_7071).putInt(0).putLong(12345).array();
        p.wire.inject(p.a, java.util.Arrays.copyOf(probe, 2));
        Thread.sleep(50); // a reads the first two bytes alone
        p.wire.inject(p.a, java.util.Arrays.copyOfRange(probe, 2, 16));
        byte[] ab = pattern(100_000, 9);
        p.a.write(ab);
        await(() -> p.b.received() == ab.length, "a's stream at b");
        Thread.sleep(100); // a's answer (to a probe b never sent) reaches b
        for (End e : List.of(p.a, p.b)) {
            assertEquals(List.of(), e.errors);
            assertEquals(VSocketLink.SHM, e.channel.link(), "no fail-over");
            assertNull(e.channel.failedOverFrom());
        }
        assertEquals(0, p.b.ring.probesAnswered.get(), "an answer to no probe of b's");
        assertArrayEquals(ab, p.b.bytes());
        p.close();
    }

    private static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 31 + seed + (i >>> 9));
        }
        return bytes;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    /** Two channels joined by a memory ring pair, their control connections joined by {@link Wire}. */
    private record Pair(End a, End b, Wire wire) {
        static Pair open(int capacity, List<VSocketLink> links) throws Exception {
            MemoryRingLinks.Way ab = new MemoryRingLinks.Way(capacity);
            MemoryRingLinks.Way ba = new MemoryRingLinks.Way(capacity);
            End a = End.open(MemoryRingLinks.Ring.keeping(ab, ba), links);
            End b = End.open(MemoryRingLinks.Ring.keeping(ba, ab), links);
            return new Pair(a, b, new Wire(a.control, b.control));
        }

        /**
         * Both streams arrive whole ({@code ab} at b, {@code ba} at a), both channels end up open on
         * tcp, and the application saw no error.
         */
        void assertWholeOnTcp(byte[] ab, byte[] ba) throws InterruptedException {
            await(() -> a.channel.link() == VSocketLink.TCP && b.channel.link() == VSocketLink.TCP, "the switch");
            await(() -> b.received() == ab.length && a.received() == ba.length, "both streams whole");
            assertArrayEquals(ab, b.bytes(), "a's stream at b");
            assertArrayEquals(ba, a.bytes(), "b's stream at a");
            for (End e : List.of(a, b)) {
                assertEquals(List.of(), e.errors, "the application saw no error");
                assertTrue(e.channel.isActive());
            }
        }

        void close() throws Exception {
            a.channel.close().sync();
            b.channel.close().sync();
            wire.close();
        }
    }

    /** Copies bytes between the two control connections' far ends, both ways, as a network would. */
    private static final class Wire {
        private final Socket a;
        private final Socket b;

        Wire(Socket a, Socket b) {
            this.a = a;
            this.b = b;
            pump(a, b);
            pump(b, a);
        }

        /** While set, bytes read from either end wait before they are passed on. */
        private volatile boolean paused;
        /** Ends whose socket failed a write (reset): a read of theirs that then ends passes on a reset. */
        private final Set<Socket> resetSeen = ConcurrentHashMap.newKeySet();

        /**
         * Passes what {@code from}'s peer sends on to {@code to}'s, its end as an end and a reset as a
         * reset. The streams are not closed here: closing one closes its socket, which would send the
         * other direction an end it never sent.
         */
        private void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[8192];
                try {
                    InputStream in = from.getInputStream();
                    OutputStream out = to.getOutputStream();
                    while (true) {
                        int n;
                        try {
                            n = in.read(buf);
                        } catch (IOException reset) {
                            to.setSoLinger(true, 0);
                            to.close();
                            return;
                        }
                        if (n < 0) {
                            // A reset reported to the pump writing the other way (its write took the
                            // socket's error) leaves this read an end: pass on what it really was.
                            Thread.sleep(20);
                            if (resetSeen.contains(from)) {
                                to.setSoLinger(true, 0);
                                to.close();
                            } else {
                                to.shutdownOutput();
                            }
                            return;
                        }
                        while (paused) {
                            Thread.sleep(1);
                        }
                        out.write(buf, 0, n);
                    }
                } catch (IOException e) {
                    // The other end is gone: the pump the other way passes that on (told here, since
                    // this write may have taken the reset its read would have seen).
                    resetSeen.add(to);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "wire");
            t.setDaemon(true);
            t.start();
        }

        void pause(boolean pause) {
            paused = pause;
        }

        /** Sends {@code bytes} to {@code end}'s channel as if its peer had. */
        void inject(End end, byte[] bytes) throws IOException {
            Socket to = end.control;
            synchronized (this) {
                to.getOutputStream().write(bytes);
            }
        }

        void close() throws IOException {
            a.close();
            b.close();
        }
    }

    private static final class End extends ChannelInboundHandlerAdapter {
        final VSocketSocketChannel channel = new VSocketSocketChannel();
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();
        MemoryRingLinks.Ring ring;
        Socket control;

        static End open(MemoryRingLinks.Ring ring, List<VSocketLink> links) throws Exception {
            End end = new End();
            end.ring = ring;
            VSocketSocketChannel ch = end.channel;
            ch.config().setLinks(links);
            ch.config().setWriteBufferWaterMark(new WriteBufferWaterMark(4096, 8192));
            ch.pipeline().addLast(end);
            ch.socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), wireServer.getLocalPort()));
            end.control = wireServer.accept();
            group.register(ch).sync();
            ch.eventLoop().submit(() -> {
                ch.linkHost().linkEstablished(new MemoryRingLinks.Polled(ch.linkHost(), ch.socket, ch.config(), ring), null);
            }).sync();
            return end;
        }

        io.netty.channel.ChannelFuture write(byte[] bytes) {
            return channel.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        }

        int received() {
            synchronized (received) {
                return received.size();
            }
        }

        byte[] bytes() {
            synchronized (received) {
                return received.toByteArray();
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            synchronized (received) {
                byte[] bytes = new byte[buf.readableBytes()];
                buf.readBytes(bytes);
                received.writeBytes(bytes);
            }
            buf.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            errors.add(cause);
        }
    }
}
