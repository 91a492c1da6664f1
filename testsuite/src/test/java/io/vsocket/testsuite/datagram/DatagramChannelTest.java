package io.vsocket.testsuite.datagram;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultAddressedEnvelope;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link VSocketDatagramChannel} does beyond Netty's datagram testsuite: its options reach the
 * socket, a datagram longer than the receive buffer is cut as on NIO (and whole with a larger one),
 * a burst beyond the socket's buffer loses datagrams and not the channel, broadcast needs
 * {@code SO_BROADCAST}, a connected channel hears only its peer, and closing leaves no descriptor.
 */
class DatagramChannelTest {
    private static final InetAddress LOCALHOST = InetAddress.getLoopbackAddress();
    private static EventLoopGroup group;

    @BeforeAll
    static void startGroup() {
        group = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stopGroup() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    /** A channel bound on localhost whose received datagrams land in {@code received}. */
    private static DatagramChannel receiver(BlockingQueue<DatagramPacket> received, Bootstrap options)
            throws InterruptedException {
        return (DatagramChannel) options.group(group).channel(VSocketDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        received.add(msg);
                    }
                }).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
    }

    private static DatagramChannel sender() throws InterruptedException {
        return (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .handler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
    }

    private static String text(DatagramPacket packet) {
        try {
            return packet.content().toString(StandardCharsets.US_ASCII);
        } finally {
            packet.release();
        }
    }

    @Test
    void optionsReachTheSocket() throws Exception {
        DatagramChannel ch = sender();
        try {
            var config = ch.config();
            assertInstanceOf(FixedRecvByteBufAllocator.class, config.getRecvByteBufAllocator());
            assertFalse(config.isBroadcast());
            config.setBroadcast(true);
            assertTrue(config.isBroadcast());
            assertTrue(ch.config().getOption(ChannelOption.SO_BROADCAST));
            config.setReceiveBufferSize(64 * 1024);
            // Linux doubles what it is asked for (bookkeeping space), as on every transport.
            assertEquals(128 * 1024, config.getReceiveBufferSize());
            config.setSendBufferSize(32 * 1024);
            assertEquals(64 * 1024, config.getSendBufferSize());
            config.setTrafficClass(0x28);
            assertEquals(0x28, config.getTrafficClass());
            assertEquals(0x28, (int) ch.config().getOption(ChannelOption.IP_TOS));
            config.setTimeToLive(7);
            assertEquals(7, config.getTimeToLive());
            config.setLoopbackModeDisabled(true);
            assertTrue(config.isLoopbackModeDisabled());
            config.setReuseAddress(true);
            assertTrue(config.isReuseAddress());
        } finally {
            ch.close().sync();
        }
    }

    /**
     * A connect to an unresolved address fails before the socket is touched, and the bound channel goes on
     * as it was — open, active, receiving — as epoll's does (vsocket's closed it, and what was sent to it
     * afterwards was lost: helper-59's probe).
     */
    @Test
    void aConnectToAnUnresolvedAddressFailsAndLeavesTheChannelAsItWas() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel ch = receiver(received, new Bootstrap());
        DatagramChannel from = sender();
        try {
            ChannelFuture connect = ch.connect(InetSocketAddress.createUnresolved("no-such-host.invalid", 9)).await();
            assertInstanceOf(java.nio.channels.UnresolvedAddressException.class, connect.cause());
            assertTrue(ch.isOpen() && ch.isActive() && !ch.isConnected(), "open, active, unconnected");
            from.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("still here", StandardCharsets.US_ASCII),
                    (InetSocketAddress) ch.localAddress())).sync();
            DatagramPacket p = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(p, "a datagram sent after the failed connect arrives");
            assertEquals("still here", text(p));
        } finally {
            from.close().sync();
            ch.close().sync();
        }
    }

    @Test
    void aDatagramLongerThanTheReceiveBufferIsCutAndWholeWithALargerOne() throws Exception {
        BlockingQueue<DatagramPacket> cut = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> whole = new LinkedBlockingQueue<>();
        DatagramChannel small = receiver(cut, new Bootstrap());
        DatagramChannel large = receiver(whole, new Bootstrap()
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(65536)));
        DatagramChannel tx = sender();
        try {
            byte[] payload = new byte[3000];
            for (int i = 0; i < payload.length; i++) {
                payload[i] = (byte) (i * 7);
            }
            tx.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(payload), small.localAddress())).sync();
            tx.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(payload), large.localAddress())).sync();
            DatagramPacket a = cut.poll(5, TimeUnit.SECONDS);
            DatagramPacket b = whole.poll(5, TimeUnit.SECONDS);
            assertNotNull(a);
            assertNotNull(b);
            try {
                assertEquals(2048, a.content().readableBytes(), "cut to the default 2,048-byte buffer, as on NIO");
                assertEquals(Unpooled.wrappedBuffer(payload, 0, 2048), a.content());
                assertEquals(Unpooled.wrappedBuffer(payload), b.content());
                assertEquals(tx.localAddress(), b.sender());
                assertEquals(large.localAddress(), b.recipient());
            } finally {
                a.release();
                b.release();
            }
        } finally {
            tx.close().sync();
            small.close().sync();
            large.close().sync();
        }
    }

    @Test
    void aBurstBeyondTheSocketBufferLosesDatagramsNotTheChannel() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap().option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.SO_RCVBUF, 4096));
        try (DatagramSocket plain = new DatagramSocket(new InetSocketAddress(LOCALHOST, 0))) {
            byte[] datagram = new byte[512];
            int sent = 2000;
            for (int i = 0; i < sent; i++) {
                plain.send(new java.net.DatagramPacket(datagram, datagram.length, rx.localAddress()));
            }
            rx.config().setAutoRead(true);
            int got = 0;
            while (received.poll(500, TimeUnit.MILLISECONDS) instanceof DatagramPacket p) {
                p.release();
                got++;
            }
            assertTrue(got > 0 && got < sent, "a burst larger than the socket buffer loses some: got " + got);
            byte[] marker = "after the burst".getBytes(StandardCharsets.US_ASCII);
            plain.send(new java.net.DatagramPacket(marker, marker.length, rx.localAddress()));
            DatagramPacket after = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(after, "the channel still receives");
            assertEquals("after the burst", text(after));
            assertTrue(rx.isOpen() && rx.isActive());
        } finally {
            rx.close().sync();
        }
    }

    @Test
    void broadcastNeedsSoBroadcast() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = (DatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        received.add(msg);
                    }
                }).bind(new InetSocketAddress(0)).sync().channel();
        DatagramChannel tx = sender();
        try {
            InetSocketAddress broadcast = new InetSocketAddress(InetAddress.getByName("127.255.255.255"),
                    rx.localAddress().getPort());
            ChannelFuture refused = tx.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("no", StandardCharsets.US_ASCII),
                    broadcast)).await();
            assertInstanceOf(SocketException.class, refused.cause(), "without SO_BROADCAST: " + refused.cause());
            assertTrue(tx.isOpen(), "a failed datagram does not close the channel");
            tx.config().setBroadcast(true);
            tx.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("yes", StandardCharsets.US_ASCII), broadcast)).sync();
            DatagramPacket got = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(got);
            assertEquals("yes", text(got));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void aConnectedChannelHearsOnlyItsPeerAndWritesToIt() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap());
        DatagramChannel peer = sender();
        DatagramChannel stranger = sender();
        BlockingQueue<DatagramPacket> atPeer = new LinkedBlockingQueue<>();
        peer.pipeline().addLast(new SimpleChannelInboundHandler<DatagramPacket>(false) {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                atPeer.add(msg);
            }
        });
        try {
            rx.connect(peer.localAddress()).sync();
            assertTrue(rx.isConnected());
            assertEquals(peer.localAddress(), rx.remoteAddress());
            stranger.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("stranger", StandardCharsets.US_ASCII),
                    rx.localAddress())).sync();
            peer.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("peer", StandardCharsets.US_ASCII),
                    rx.localAddress())).sync();
            DatagramPacket first = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(first);
            assertEquals("peer", text(first), "the kernel drops what others send to a connected socket");
            assertNull(received.poll(200, TimeUnit.MILLISECONDS));
            // A plain buffer and an envelope without recipient both go to the peer.
            rx.writeAndFlush(Unpooled.copiedBuffer("buf", StandardCharsets.US_ASCII)).sync();
            rx.writeAndFlush(new DefaultAddressedEnvelope<ByteBuf, InetSocketAddress>(
                    Unpooled.copiedBuffer("envelope", StandardCharsets.US_ASCII), null, rx.localAddress())).sync();
            DatagramPacket a = atPeer.poll(5, TimeUnit.SECONDS);
            DatagramPacket b = atPeer.poll(5, TimeUnit.SECONDS);
            assertNotNull(a);
            assertNotNull(b);
            assertEquals(rx.localAddress(), a.sender());
            assertEquals("buf", text(a));
            assertEquals("envelope", text(b));
            rx.disconnect().sync();
            assertFalse(rx.isConnected());
            assertNull(rx.remoteAddress());
            assertTrue(rx.isActive(), "a bound channel stays active when it disconnects");
            stranger.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("again", StandardCharsets.US_ASCII),
                    rx.localAddress())).sync();
            DatagramPacket again = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(again);
            assertEquals("again", text(again));
        } finally {
            stranger.close().sync();
            peer.close().sync();
            rx.close().sync();
        }
    }

    /**
     * A channel bound to the wildcard (or never bound) that connects and disconnects is the wildcard's
     * again, on the same port, as NIO's: Linux lets go of the port and the connected route's source
     * address at the disconnect, and the channel must not keep the latter (it would hear only on
     * 127.0.0.1, and could not connect over IPv6 next).
     */
    @Test
    void aWildcardChannelThatDisconnectsIsTheWildcardsAgainOnItsPort() throws Exception {
        for (boolean bound : new boolean[] {true, false}) {
            BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
            Bootstrap b = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                            received.add(msg);
                        }
                    });
            DatagramChannel peer = sender();
            DatagramChannel ch = (DatagramChannel) (bound ? b.bind(0).sync().channel()
                    : b.connect(peer.localAddress()).sync().channel());
            try {
                if (bound) {
                    ch.connect(peer.localAddress()).sync();
                }
                int port = ch.localAddress().getPort();
                ch.disconnect().sync();
                InetSocketAddress after = ch.localAddress();
                assertTrue(after.getAddress().isAnyLocalAddress(), "bound=" + bound + ": " + after);
                assertEquals(port, after.getPort(), "bound=" + bound + ": the port stays");
                peer.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("v4", StandardCharsets.US_ASCII),
                        new InetSocketAddress(LOCALHOST, port))).sync();
                DatagramPacket v4 = received.poll(5, TimeUnit.SECONDS);
                assertNotNull(v4, "bound=" + bound + ": heard on 127.0.0.1");
                assertEquals("v4", text(v4));
                // And it may connect over IPv6 next (dual-stack), where NIO can.
                ch.connect(new InetSocketAddress(InetAddress.getByName("::1"), peer.localAddress().getPort())).sync();
                assertTrue(ch.isConnected());
            } finally {
                ch.close().sync();
                peer.close().sync();
            }
        }
    }

    /** An empty datagram is completed without a send, as Netty's NIO and epoll channels do, whatever its buffer. */
    @Test
    void anEmptyDatagramIsNotSentWhateverItsBuffer() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap());
        DatagramChannel tx = sender();
        try {
            InetSocketAddress to = rx.localAddress();
            ByteBuf offset = Unpooled.directBuffer(8).writeLong(7);
            offset.skipBytes(8);
            List<ByteBuf> empties = List.of(Unpooled.directBuffer(16), Unpooled.buffer(16), offset,
                    Unpooled.compositeBuffer(), Unpooled.EMPTY_BUFFER);
            for (ByteBuf empty : empties) {
                assertTrue(tx.writeAndFlush(new DatagramPacket(empty, to)).sync().isSuccess());
            }
            tx.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("after", StandardCharsets.US_ASCII), to)).sync();
            DatagramPacket first = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(first);
            assertEquals("after", text(first), "no empty datagram went before it");
            assertNull(received.poll(200, TimeUnit.MILLISECONDS));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void oneFlushOfManyDatagramsSendsThemAllAndAFailedOneFailsAlone() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap().option(ChannelOption.SO_RCVBUF, 1 << 20));
        DatagramChannel tx = sender();
        try {
            // 300 datagrams in one flush: several sendmmsg batches, destinations of one object and of new ones.
            java.util.List<ChannelFuture> writes = new java.util.ArrayList<>();
            for (int i = 0; i < 300; i++) {
                InetSocketAddress to = i % 2 == 0 ? rx.localAddress() : new InetSocketAddress(LOCALHOST, rx.localAddress().getPort());
                writes.add(tx.write(new DatagramPacket(Unpooled.copiedBuffer("d" + i, StandardCharsets.US_ASCII), to)));
            }
            tx.flush();
            for (ChannelFuture f : writes) {
                f.sync();
            }
            for (int i = 0; i < 300; i++) {
                DatagramPacket p = received.poll(5, TimeUnit.SECONDS);
                assertNotNull(p, "datagram " + i);
                assertEquals("d" + i, text(p));
            }
            // A broadcast without SO_BROADCAST amid others: it fails, the ones around it go.
            InetSocketAddress broadcast = new InetSocketAddress(InetAddress.getByName("127.255.255.255"), 9);
            ChannelFuture before = tx.write(new DatagramPacket(Unpooled.copiedBuffer("before", StandardCharsets.US_ASCII), rx.localAddress()));
            ChannelFuture refused = tx.write(new DatagramPacket(Unpooled.copiedBuffer("no", StandardCharsets.US_ASCII), broadcast));
            ChannelFuture after = tx.write(new DatagramPacket(Unpooled.copiedBuffer("after", StandardCharsets.US_ASCII), rx.localAddress()));
            tx.flush();
            before.sync();
            after.sync();
            assertInstanceOf(SocketException.class, refused.await().cause());
            assertEquals("before", text(received.poll(5, TimeUnit.SECONDS)));
            assertEquals("after", text(received.poll(5, TimeUnit.SECONDS)));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void aVSocketPeersResolutionRequestNeverReachesTheApplication() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap());
        try (DatagramSocket peer = new DatagramSocket(new InetSocketAddress(LOCALHOST, 0))) {
            peer.setSoTimeout(300);
            // A request as a vsocket peer on this host sends it: magic, type 1, nonce, no UD
            // endpoint (28 zero bytes), flags asking for shm, padding: 54 bytes.
            java.nio.ByteBuffer request = java.nio.ByteBuffer.allocate(54);
            request.put("VSOCKUD1".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).putLong(42);
            request.put(45, (byte) 1);
            peer.send(new java.net.DatagramPacket(request.array(), 54, rx.localAddress()));
            // The same start at another length is not a resolution message: the application's.
            byte[] lookalike = java.util.Arrays.copyOf(request.array(), 20);
            peer.send(new java.net.DatagramPacket(lookalike, lookalike.length, rx.localAddress()));
            byte[] plain = "plain".getBytes(StandardCharsets.US_ASCII);
            peer.send(new java.net.DatagramPacket(plain, plain.length, rx.localAddress()));
            DatagramPacket first = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(first);
            assertEquals(20, first.content().readableBytes(), "the look-alike, not the request");
            first.release();
            assertEquals("plain", text(received.poll(5, TimeUnit.SECONDS)));
            assertNull(received.poll(200, TimeUnit.MILLISECONDS));
            // No RDMA device here, but the channel takes same-host peers over shm: it answers with a
            // reply that offers shm, the request's nonce and a token.
            assertFalse(((VSocketDatagramChannel) rx).hasUdEndpoint());
            assertTrue(((VSocketDatagramChannel) rx).hasShmRendezvous());
            java.net.DatagramPacket reply = new java.net.DatagramPacket(new byte[128], 128);
            peer.receive(reply);
            java.nio.ByteBuffer r = java.nio.ByteBuffer.wrap(reply.getData(), 0, reply.getLength());
            assertEquals(54, reply.getLength());
            assertEquals(2, r.get(8), "a reply");
            assertEquals(42, r.getLong(9), "to that request");
            assertTrue(r.getLong(17) != 0, "with a token");
            assertEquals(1, r.get(53), "offering shm");
            // A request that asks for nothing (no endpoint, no shm) is consumed and not answered.
            request.put(45, (byte) 0);
            peer.send(new java.net.DatagramPacket(request.array(), 54, rx.localAddress()));
            assertThrowsTimeout(() -> peer.receive(reply));
            assertNull(received.poll(100, TimeUnit.MILLISECONDS));
        } finally {
            rx.close().sync();
        }
    }

    private static void assertThrowsTimeout(org.junit.jupiter.api.function.Executable receive) {
        org.junit.jupiter.api.Assertions.assertThrows(java.net.SocketTimeoutException.class, receive);
    }

    @Test
    void withAutoReadOffNothingArrivesUntilTheApplicationReads() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        DatagramChannel rx = receiver(received, new Bootstrap());
        DatagramChannel tx = sender();
        try {
            tx.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("on", StandardCharsets.US_ASCII), rx.localAddress())).sync();
            assertEquals("on", text(received.poll(5, TimeUnit.SECONDS)));
            // Switched off after reading (the channel owed a read then): nothing more until read().
            rx.config().setAutoRead(false);
            for (int i = 0; i < 3; i++) {
                tx.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("off" + i, StandardCharsets.US_ASCII),
                        rx.localAddress())).sync();
            }
            assertNull(received.poll(300, TimeUnit.MILLISECONDS), "delivered without a read()");
            rx.read();
            assertEquals("off0", text(received.poll(5, TimeUnit.SECONDS)));
            rx.config().setAutoRead(true);
            DatagramPacket p;
            int rest = 0;
            while ((p = received.poll(1, TimeUnit.SECONDS)) != null) {
                text(p);
                rest++;
            }
            assertEquals(2, rest, "a read() may take several, auto-read the rest; none lost");
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void aMessageOfAnotherTypeFailsItsWriteAndNothingElse() throws Exception {
        DatagramChannel ch = sender();
        try {
            ChannelFuture f = ch.writeAndFlush("a string").await();
            assertInstanceOf(UnsupportedOperationException.class, f.cause());
            assertTrue(ch.isOpen());
        } finally {
            ch.close().sync();
        }
    }

    @Test
    void closingLeavesNoDescriptor() throws Exception {
        // Warm up: the loop's own descriptors and the JDK's come first (a write too: the shm side
        // looks for the recipient's rendezvous, which loads what it needs once).
        DatagramChannel warm = sender();
        warm.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("x", StandardCharsets.US_ASCII),
                warm.localAddress())).sync();
        warm.close().sync();
        System.gc();
        Thread.sleep(100);
        long before = openDescriptors();
        for (int i = 0; i < 200; i++) {
            DatagramChannel ch = sender();
            ch.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("x", StandardCharsets.US_ASCII),
                    ch.localAddress())).sync();
            ch.close().sync();
        }
        assertEquals(before, openDescriptors());
    }

    /** A peer's descriptors this process refused may still be closing on their own thread: counted after. */
    private static void settlePeerDescriptors() {
        try {
            io.vsocket.unix.PeerDescriptors.settle(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long openDescriptors() {
        settlePeerDescriptors();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
