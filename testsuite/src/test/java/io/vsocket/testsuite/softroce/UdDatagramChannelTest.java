package io.vsocket.testsuite.softroce;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link VSocketDatagramChannel} on rxe0: datagrams between two vsocket channels travel over UD once
 * each side has resolved the other (the first ones over UDP meanwhile), whole and in order in a
 * ping-pong, from the right sender; one larger than the UD payload goes over UDP intact; a plain
 * UDP peer (NIO) gets every datagram and at most one resolution request; and the device's
 * resources come back after the channels close.
 */
@Tag("softroce")
class UdDatagramChannelTest {
    private static final String ADDRESS = System.getProperty("vsocket.softroce.address", "169.254.77.1");
    private static final byte[] MAGIC = "VSOCKUD1".getBytes(StandardCharsets.US_ASCII);
    private static EventLoopGroup group;

    @BeforeAll
    static void startGroup() {
        group = new VSocketEventLoopGroup(2, new DefaultThreadFactory("ud-test", true));
    }

    @AfterAll
    static void stopGroup() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    private static DatagramChannel bind(BlockingQueue<DatagramPacket> received) throws InterruptedException {
        return (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false) // one host: shm would carry them, UD is under test
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(65536))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        received.add(msg);
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
    }

    private static DatagramPacket packet(String text, InetSocketAddress to) {
        return new DatagramPacket(Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII), to);
    }

    private static String text(DatagramPacket p) {
        try {
            return p.content().toString(StandardCharsets.US_ASCII);
        } finally {
            p.release();
        }
    }

    /** Reads a channel's state on its loop, the thread that writes it. */
    private static <T> T onLoop(DatagramChannel ch, java.util.concurrent.Callable<T> read) throws Exception {
        return ch.eventLoop().submit(read).get(10, TimeUnit.SECONDS);
    }

    private static long udSent(DatagramChannel ch) throws Exception {
        return onLoop(ch, () -> ((VSocketDatagramChannel) ch).udDatagramsSent());
    }

    private static long udReceived(DatagramChannel ch) throws Exception {
        return onLoop(ch, () -> ((VSocketDatagramChannel) ch).udDatagramsReceived());
    }

    /** Sends from {@code a} to {@code b} until one arrives over UD at {@code b}; drains what arrived. */
    private static void resolve(DatagramChannel a, DatagramChannel b, BlockingQueue<DatagramPacket> atB) throws Exception {
        VSocketDatagramChannel vb = (VSocketDatagramChannel) b;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (udReceived(vb) == 0) {
            assertTrue(System.nanoTime() < deadline, "no datagram came over UD within 30 s");
            a.writeAndFlush(packet("resolve", b.localAddress())).sync();
            DatagramPacket p = atB.poll(100, TimeUnit.MILLISECONDS);
            if (p != null) {
                assertEquals("resolve", text(p));
            }
        }
        DatagramPacket p;
        while ((p = atB.poll(200, TimeUnit.MILLISECONDS)) != null) {
            assertEquals("resolve", text(p));
        }
    }

    /**
     * Netty's connect classes' checks on rxe0's address, over UD: a channel connected to a port
     * nobody listens on learns it as {@link PortUnreachableException} (no UD: nobody answers the
     * resolution); and a channel connected to a UD peer that closes learns it too, as over UDP: the
     * closing endpoint tells its requesters it is gone, their next datagrams go over UDP and meet the
     * closed port's error (Netty's {@code DatagramConnectedWriteExceptionTest}).
     */
    @Test
    void aConnectedChannelLearnsThatItsPeerIsGoneOverUdAsOverUdp() throws Exception {
        BlockingQueue<DatagramPacket> atA = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        DatagramChannel a = bind(atA);
        DatagramChannel b = bind(atB);
        java.util.concurrent.atomic.AtomicReference<Throwable> caught = new java.util.concurrent.atomic.AtomicReference<>();
        a.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                caught.compareAndSet(null, cause);
            }
        });
        try {
            resolve(a, b, atB);
            a.connect(b.localAddress()).sync();
            long before = udSent(a);
            a.writeAndFlush(Unpooled.copiedBuffer("connected", StandardCharsets.US_ASCII)).sync();
            assertEquals("connected", text(atB.poll(10, TimeUnit.SECONDS)));
            assertEquals(before + 1, udSent(a), "a connected channel's datagram over UD");
            b.close().sync();
            long afterClose = udSent(a);
            Throwable failure = null;
            for (int i = 0; i < 40 && failure == null; i++) {
                io.netty.channel.ChannelFuture f = a.writeAndFlush(
                        Unpooled.copiedBuffer("after " + i, StandardCharsets.US_ASCII)).await();
                failure = f.cause() != null ? f.cause() : caught.get();
                Thread.sleep(100);
            }
            assertNotNull(failure, "the closed peer's port was never reported; over UD after its close: "
                    + (udSent(a) - afterClose));
            assertTrue(failure instanceof java.net.PortUnreachableException, String.valueOf(failure));
            assertTrue(a.isOpen(), "the channel goes on, as on NIO");
        } finally {
            a.close().sync();
            b.close().sync();
        }
        // Connected to a port nobody listens on (at rxe0's address): the same error.
        int unused;
        try (java.net.DatagramSocket probe = new java.net.DatagramSocket(new InetSocketAddress(ADDRESS, 0))) {
            unused = probe.getLocalPort();
        }
        DatagramChannel c = bind(new LinkedBlockingQueue<>());
        caught.set(null);
        c.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                caught.compareAndSet(null, cause);
            }
        });
        try {
            c.connect(new InetSocketAddress(ADDRESS, unused)).sync();
            Throwable failure = null;
            for (int i = 0; i < 20 && failure == null; i++) {
                io.netty.channel.ChannelFuture f = c.writeAndFlush(
                        Unpooled.copiedBuffer("nobody " + i, StandardCharsets.US_ASCII)).await();
                failure = f.cause() != null ? f.cause() : caught.get();
                Thread.sleep(100);
            }
            assertTrue(failure instanceof java.net.PortUnreachableException, String.valueOf(failure));
            assertEquals(0, udSent(c), "nobody answered the resolution: nothing over UD");
        } finally {
            c.close().sync();
        }
    }

    @Test
    void datagramsTravelOverUdOnceResolvedWholeAndFromTheRightSender() throws Exception {
        BlockingQueue<DatagramPacket> atA = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        DatagramChannel a = bind(atA);
        DatagramChannel b = bind(atB);
        try {
            assertTrue(onLoop(a, ((VSocketDatagramChannel) a)::hasUdEndpoint), "rxe0 serves " + ADDRESS);
            resolve(a, b, atB);
            resolve(b, a, atA);
            long sentBefore = udSent(a);
            long receivedBefore = udReceived(b);
            int rounds = 200;
            for (int i = 0; i < rounds; i++) {
                String ping = "ping " + i + " " + "x".repeat(i * 5);
                a.writeAndFlush(packet(ping, b.localAddress())).sync();
                DatagramPacket got = atB.poll(10, TimeUnit.SECONDS);
                assertNotNull(got, "ping " + i);
                assertEquals(a.localAddress(), got.sender(), "the sender is the peer's UDP address");
                assertEquals(b.localAddress(), got.recipient());
                assertEquals(ping, text(got));
                b.writeAndFlush(packet("pong " + i, a.localAddress())).sync();
                DatagramPacket pong = atA.poll(10, TimeUnit.SECONDS);
                assertNotNull(pong, "pong " + i);
                assertEquals("pong " + i, text(pong));
            }
            // UD carried them (a datagram lost on the way would have failed the loop above).
            assertEquals(sentBefore + rounds, udSent(a));
            assertEquals(receivedBefore + rounds, udReceived(b));

            // The largest payload UD carries goes over UD; one byte more goes over UDP; both whole.
            int max = onLoop(a, () -> ((VSocketDatagramChannel) a).udMaxPayload());
            assertTrue(max >= 1000, "UD payload " + max);
            for (int size : new int[] {max, max + 1}) {
                byte[] bytes = new byte[size];
                for (int i = 0; i < size; i++) {
                    bytes[i] = (byte) (i * 31 + size);
                }
                long udBefore = udSent(a);
                a.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(bytes), b.localAddress())).sync();
                DatagramPacket got = atB.poll(10, TimeUnit.SECONDS);
                assertNotNull(got, size + " bytes");
                try {
                    assertEquals(Unpooled.wrappedBuffer(bytes), got.content(), size + " bytes");
                } finally {
                    got.release();
                }
                assertEquals(udBefore + (size == max ? 1 : 0), udSent(a), size + " bytes: " + (size == max ? "UD" : "UDP"));
            }
        } finally {
            a.close().sync();
            b.close().sync();
        }
    }

    @Test
    void aPlainUdpPeerGetsEveryDatagramAndAtMostOneResolutionRequest() throws Exception {
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        BlockingQueue<DatagramPacket> atNio = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> atVsocket = new LinkedBlockingQueue<>();
        DatagramChannel plain = (DatagramChannel) new Bootstrap().group(nio).channel(NioDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        atNio.add(msg);
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        DatagramChannel v = bind(atVsocket);
        try {
            int count = 20;
            for (int i = 0; i < count; i++) {
                v.writeAndFlush(packet("to plain " + i, plain.localAddress())).sync();
                plain.writeAndFlush(packet("from plain " + i, v.localAddress())).sync();
                Thread.sleep(20);
            }
            int application = 0;
            int requests = 0;
            DatagramPacket p;
            while ((p = atNio.poll(1, TimeUnit.SECONDS)) != null) {
                ByteBuf c = p.content();
                if (c.readableBytes() == 54 && Unpooled.wrappedBuffer(MAGIC).equals(c.slice(c.readerIndex(), 8))) {
                    requests++;
                    p.release();
                } else {
                    assertEquals("to plain " + application, text(p));
                    application++;
                }
            }
            assertEquals(count, application);
            assertTrue(requests <= 1, "a plain peer was asked " + requests + " times");
            for (int i = 0; i < count; i++) {
                DatagramPacket got = atVsocket.poll(5, TimeUnit.SECONDS);
                assertNotNull(got, "from plain " + i);
                assertEquals(plain.localAddress(), got.sender());
                assertEquals("from plain " + i, text(got));
            }
            assertNull(atVsocket.poll(200, TimeUnit.MILLISECONDS));
            assertEquals(0, udSent(v));
        } finally {
            v.close().sync();
            plain.close().sync();
            nio.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void withUdRequiredTheFirstDatagramWaitsForTheResolutionAndAPlainPeerFailsTheWrite() throws Exception {
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        DatagramChannel a = (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false) // one host: shm would carry them, UD is under test
                .option(VSocketChannelOption.DATAGRAM_UD_REQUIRED, true)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        DatagramChannel b = bind(atB);
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        DatagramChannel plain = (DatagramChannel) new Bootstrap().group(nio).channel(NioDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            for (int i = 0; i < 5; i++) {
                a.writeAndFlush(packet("ud only " + i, b.localAddress())).sync();
            }
            for (int i = 0; i < 5; i++) {
                DatagramPacket got = atB.poll(10, TimeUnit.SECONDS);
                assertNotNull(got, "datagram " + i);
                assertEquals("ud only " + i, text(got));
            }
            assertEquals(5, udSent(a), "the first waited for the resolution, none went over UDP");
            assertEquals(5, udReceived(b));
            io.netty.channel.ChannelFuture refused = a.writeAndFlush(packet("nobody", plain.localAddress())).await();
            assertTrue(refused.cause() instanceof java.io.IOException
                    && refused.cause().getMessage().contains("did not answer"), String.valueOf(refused.cause()));
            byte[] large = new byte[onLoop(a, ((VSocketDatagramChannel) a)::udMaxPayload) + 1];
            io.netty.channel.ChannelFuture tooLarge = a.writeAndFlush(
                    new DatagramPacket(Unpooled.wrappedBuffer(large), b.localAddress())).await();
            assertTrue(tooLarge.cause() != null && tooLarge.cause().getMessage().contains("larger than UD carries"),
                    String.valueOf(tooLarge.cause()));
            assertTrue(a.isOpen());
        } finally {
            a.close().sync();
            b.close().sync();
            plain.close().sync();
            nio.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A completion batch over UD is handed to the pipeline at most the allocator's messages per read
     * before each read-complete, as a socket's read loop hands them (NIO and epoll: batches of 4 for
     * 60 datagrams), so a handler that flushes in {@code channelReadComplete} answers in batches.
     * (60: fewer than the endpoint's send slots, so that none of them goes over UDP.)
     */
    @Test
    void aCompletionBatchOverUdIsHandedAtMostTheAllocatorsMessagesPerRead() throws Exception {
        java.util.List<Integer> batches = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        java.util.concurrent.atomic.AtomicInteger inBatch = new java.util.concurrent.atomic.AtomicInteger();
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        io.netty.channel.EventLoop bLoop = group.next();
        io.netty.channel.EventLoop aLoop = group.next();
        assertTrue(aLoop != bLoop, "two loops");
        DatagramChannel a = (DatagramChannel) new Bootstrap().group(aLoop).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false)
                .handler(new io.netty.channel.ChannelInboundHandlerAdapter())
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        DatagramChannel b = (DatagramChannel) new Bootstrap().group(bLoop).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false) // one host: shm would carry them, UD is under test
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(2048).maxMessagesPerRead(4))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        inBatch.incrementAndGet();
                        atB.add(msg);
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        batches.add(inBatch.getAndSet(0));
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            resolve(a, b, atB);
            long receivedBefore = udReceived(b);
            // Sent while b's loop is held, so that all 60 wait in b's completion queue at once.
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            b.eventLoop().execute(() -> {
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            batches.clear();
            onLoop(a, () -> {
                for (int i = 0; i < 60; i++) {
                    a.write(packet("d" + i, b.localAddress()));
                }
                a.flush();
                return null;
            });
            Thread.sleep(500); // (the emulated device delivers them meanwhile)
            release.countDown();
            for (int i = 0; i < 60; i++) {
                DatagramPacket got = atB.poll(10, TimeUnit.SECONDS);
                assertNotNull(got, "d" + i);
                assertEquals("d" + i, text(got));
            }
            assertEquals(receivedBefore + 60, udReceived(b), "all 60 came over UD");
            assertTrue(batches.stream().allMatch(n -> n <= 4), "batches of at most 4: " + batches);
            assertTrue(batches.size() >= 15, "batches: " + batches);
        } finally {
            a.close().sync();
            b.close().sync();
        }
    }

    @Test
    void aChannelThatDoesNotReadStillAnswersResolutionAndKeepsItsDatagramsForTheRead() throws Exception {
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        DatagramChannel a = bind(new LinkedBlockingQueue<>());
        DatagramChannel b = (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false) // one host: shm would carry them, UD is under test
                .option(ChannelOption.AUTO_READ, false)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        atB.add(msg);
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            // b never reads, yet a resolves it (b's socket is read for resolution messages) and sends over UD.
            int sent = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (udSent(a) == 0) {
                assertTrue(System.nanoTime() < deadline, "a never resolved b");
                a.writeAndFlush(packet("d" + sent++, b.localAddress())).sync();
                Thread.sleep(100);
            }
            for (int i = 0; i < 3; i++) {
                a.writeAndFlush(packet("d" + sent++, b.localAddress())).sync();
            }
            assertNull(atB.poll(300, TimeUnit.MILLISECONDS), "delivered although b did not read");
            b.read();
            assertEquals("d0", text(atB.poll(10, TimeUnit.SECONDS)), "the oldest first");
            b.config().setAutoRead(true);
            for (int i = 1; i < sent; i++) {
                DatagramPacket got = atB.poll(10, TimeUnit.SECONDS);
                assertNotNull(got, "d" + i);
                assertEquals("d" + i, text(got));
            }
            assertTrue(udReceived(b) >= 3, "the last three came over UD");
        } finally {
            a.close().sync();
            b.close().sync();
        }
    }

    @Test
    void aChannelWithUdOffUsesUdpOnly() throws Exception {
        BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
        DatagramChannel a = (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .option(VSocketChannelOption.DATAGRAM_SHM, false) // one host: shm would carry them, UD is under test
                .option(VSocketChannelOption.DATAGRAM_UD, false)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                    }
                }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        DatagramChannel b = bind(atB);
        try {
            assertFalse(((VSocketDatagramChannel) a).hasUdEndpoint());
            for (int i = 0; i < 10; i++) {
                a.writeAndFlush(packet("udp " + i, b.localAddress())).sync();
                DatagramPacket got = atB.poll(5, TimeUnit.SECONDS);
                assertNotNull(got);
                assertEquals("udp " + i, text(got));
            }
            assertEquals(0, udReceived(b));
        } finally {
            a.close().sync();
            b.close().sync();
        }
    }

    @Test
    void closedChannelsGiveBackEveryDeviceResource() throws Exception {
        // Warm up: the loops' contexts (CQ, SRQ) and the UD receive pools stay while the group lives.
        // Four channels: the group's two loops get two each, whichever way registration goes round.
        BlockingQueue<DatagramPacket> sink = new LinkedBlockingQueue<>();
        DatagramChannel w1 = bind(sink);
        DatagramChannel w2 = bind(sink);
        DatagramChannel w3 = bind(sink);
        DatagramChannel w4 = bind(sink);
        resolve(w1, w2, sink);
        // Not DeviceResources.quiet(): the warm channels' own queue pairs stay open through the test.
        Map<String, Integer> before = DeviceResources.now();
        for (int round = 0; round < 5; round++) {
            BlockingQueue<DatagramPacket> atA = new LinkedBlockingQueue<>();
            BlockingQueue<DatagramPacket> atB = new LinkedBlockingQueue<>();
            DatagramChannel a = bind(atA);
            DatagramChannel b = bind(atB);
            resolve(a, b, atB);
            a.close().sync();
            b.close().sync();
        }
        assertEquals(before, DeviceResources.settled(before));
        for (DatagramChannel w : new DatagramChannel[] {w1, w2, w3, w4}) {
            w.close().sync();
        }
        sink.forEach(DatagramPacket::release);
    }
}
