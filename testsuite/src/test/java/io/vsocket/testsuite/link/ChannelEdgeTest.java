package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.link.Resources;
import io.vsocket.link.VSocketLink;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.NativeSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Edges a review found: descriptor reuse on reconnect, and composites of more parts than IOV_MAX; and
 * one the churn test found: a read loop going on after its handler closed the channel.
 */
@Timeout(60)
class ChannelEdgeTest {
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /**
     * A server or datagram channel bound to a port in use fails with {@code java.net.BindException}, as
     * NIO's do (epoll's with its own exception type): applications catch it to try another port, and
     * frameworks turn it into their "port in use" (a probe found vsocket's datagram channel throwing its
     * own {@code NativeIoException}, which no such catch matches).
     */
    @Test
    void aPortInUseIsABindExceptionForServerAndDatagramChannels() throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.TCP), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        try (java.net.DatagramSocket udp = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            var second = Peers.vsocketServer(group, List.of(VSocketLink.TCP), Peers.Echo.INSTANCE)
                    .bind(server.localAddress()).await();
            assertTrue(second.cause() instanceof java.net.BindException, String.valueOf(second.cause()));
            var datagram = new io.netty.bootstrap.Bootstrap().group(group)
                    .channel(io.vsocket.channel.VSocketDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).bind(udp.getLocalSocketAddress()).await();
            assertTrue(datagram.cause() instanceof java.net.BindException, String.valueOf(datagram.cause()));
            assertTrue(datagram.cause().getMessage().contains("Address already in use"), datagram.cause().getMessage());
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that connected to a host name keeps it in its remote address, as epoll's does
     * ({@code localhost/127.0.0.1:port}, where vsocket gave {@code /127.0.0.1:port}): code that takes a
     * Host header, an SNI name or a log line from it names what was asked for. And its options, once it
     * is closed, fail as epoll's do: a {@code ChannelException} caused by a {@code ClosedChannelException}
     * (vsocket's said "Bad file descriptor").
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aClientKeepsTheHostNameItConnectedToAndItsClosedOptionsSaySo(VSocketLink link) throws Exception {
        InetAddress localhost = InetAddress.getByName("localhost");
        Channel server = Peers.vsocketServer(group, List.of(link), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress(localhost, 0)).sync().channel();
        try {
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            Channel byName = Peers.vsocketClient(group, List.of(link), new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress("localhost", port)).sync().channel();
            InetSocketAddress remote = (InetSocketAddress) byName.remoteAddress();
            assertEquals("localhost", remote.getHostString(), remote.toString());
            assertEquals(localhost, remote.getAddress());
            assertEquals(port, remote.getPort());
            byName.close().sync();
            ChannelException e = assertThrows(ChannelException.class,
                    () -> byName.config().getOption(io.netty.channel.ChannelOption.SO_KEEPALIVE));
            assertInstanceOf(ClosedChannelException.class, e.getCause(), String.valueOf(e.getCause()));
            Channel byAddress = Peers.vsocketClient(group, List.of(link), new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress(localhost.getHostAddress(), port)).sync().channel();
            assertEquals(localhost.getHostAddress(), ((InetSocketAddress) byAddress.remoteAddress()).getHostString());
            // A literal asked names the address as epoll's does (it printed "/127.0.0.1:port"): helper-79's probe.
            String literal = localhost.getHostAddress();
            assertEquals(literal + "/" + literal + ":" + port, byAddress.remoteAddress().toString());
            byAddress.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that reconnects from its close listener, on the same loop: the new socket gets the
     * closed one's descriptor number, and the old channel's deregistration must not take the new
     * socket out of epoll (its connect would then never complete).
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aReconnectFromTheCloseListenerConnects(VSocketLink link) throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(link), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            CompletableFuture<Channel> second = new CompletableFuture<>();
            Channel first = Peers.vsocketClient(group, List.of(link), new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            first.closeFuture().addListener((ChannelFutureListener) f ->
                    Peers.vsocketClient(group, List.of(link), new Peers.Collector(4))
                            .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                            .connect(server.localAddress()).addListener((ChannelFutureListener) c -> {
                                if (c.isSuccess()) {
                                    second.complete(c.channel());
                                } else {
                                    second.completeExceptionally(c.cause());
                                }
                            }));
            first.close().sync();
            Channel reconnected = second.get(10, TimeUnit.SECONDS);
            assertEquals(link, Peers.linkOf(reconnected));
            Peers.Collector collector = (Peers.Collector) reconnected.pipeline().last();
            reconnected.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer("ping".getBytes()));
            collector.done.get(10, TimeUnit.SECONDS);
            reconnected.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A handler that closes its channel in {@code channelRead} while the read loop would go on (the
     * read filled its buffer): the loop stops there. It once read on through the closed socket's
     * descriptor number, which by then could belong to another connection (another loop's accept
     * takes the lowest free number): that connection lost its bytes. {@link ChurnTest} met it as a
     * server whose hello marker vanished (an in-band read past the urgent byte discards it) and as an
     * echo that never arrived. Here the freed number goes to a plain socket with 4 bytes waiting, at
     * once, on the loop's own thread, so the race is certain.
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aChannelClosedInChannelReadReadsNoMoreThroughItsOldDescriptor(VSocketLink link) throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(link), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(io.netty.channel.ChannelHandlerContext ctx) {
                ctx.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[16]));
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        PlainPair victim = PlainPair.open();
        try {
            victim.send(4);
            java.util.concurrent.atomic.AtomicInteger received = new java.util.concurrent.atomic.AtomicInteger();
            CompletableFuture<Integer> reused = new CompletableFuture<>();
            Channel client = Peers.vsocketClient(group, List.of(link), new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                    received.addAndGet(((ByteBuf) msg).readableBytes());
                    ((ByteBuf) msg).release();
                    if (!reused.isDone()) {
                        int freed = descriptorOf(ctx.channel());
                        ctx.close();
                        // The lowest free number from the closed one up: the closed one itself, unless
                        // another thread took it in between.
                        reused.complete(victim.duplicateReceiverAtLeast(freed) == freed ? freed : -1);
                    }
                }
            }).option(io.netty.channel.ChannelOption.RCVBUF_ALLOCATOR, new io.netty.channel.FixedRecvByteBufAllocator(8).maxMessagesPerRead(16))
                    .connect(server.localAddress()).sync().channel();
            int number = reused.get(10, TimeUnit.SECONDS);
            client.closeFuture().sync();
            // The loop finishes the read it was in before it runs this.
            client.eventLoop().submit(() -> { }).sync();
            org.junit.jupiter.api.Assumptions.assumeTrue(number >= 0,
                    "another thread took the closed descriptor's number first: nothing to check");
            assertEquals(8, received.get(), "the channel read on after its handler closed it");
            assertEquals(4, victim.receive(), "the socket that took the closed channel's descriptor number lost bytes");
        } finally {
            victim.close();
            server.close().sync();
        }
    }

    /** The descriptor of a vsocket channel's socket (package-private in the transport: by reflection). */
    private static int descriptorOf(Channel channel) {
        try {
            java.lang.reflect.Field field = Class.forName("io.vsocket.channel.AbstractVSocketChannel").getDeclaredField("socket");
            field.setAccessible(true);
            return ((NativeSocket) field.get(channel)).fd();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    /** A connected pair of plain TCP sockets over loopback, and a duplicate of the receiving end the test made. */
    private record PlainPair(NativeSocket listener, NativeSocket sender, NativeSocket receiver, int[] duplicate) {
        static PlainPair open() throws Exception {
            NativeSocket listener = NativeSocket.newStreamSocket();
            listener.bind(new InetSocketAddress("127.0.0.1", 0));
            listener.listen(1);
            NativeSocket sender = NativeSocket.newStreamSocket();
            InetSocketAddress address = listener.localAddress();
            boolean connected = sender.connect(address);
            NativeSocket receiver = null;
            for (int i = 0; i < 1000 && (receiver == null || !connected); i++) {
                Thread.sleep(5);
                receiver = receiver != null ? receiver : listener.accept();
                connected = connected || sender.finishConnect(address);
            }
            assertTrue(receiver != null && connected, "a loopback connection in 5 s");
            return new PlainPair(listener, sender, receiver, new int[] {-1});
        }

        void send(int bytes) throws Exception {
            try (Arena arena = Arena.ofConfined()) {
                assertEquals(bytes, sender.write(arena.allocate(bytes).address(), bytes));
            }
        }

        /** Bytes waiting at the receiver (it has all of them by now: loopback). */
        int receive() throws Exception {
            try (Arena arena = Arena.ofConfined()) {
                return Math.max(0, receiver.read(arena.allocate(64).address(), 64));
            }
        }

        /** A duplicate of the receiver at the lowest free descriptor number from {@code least} up. */
        int duplicateReceiverAtLeast(int least) {
            duplicate[0] = LibC.fcntl(Downcalls.threadErrnoState(), receiver.fd(), LibC.F_DUPFD_CLOEXEC, least);
            return duplicate[0];
        }

        void close() {
            if (duplicate[0] >= 0) {
                FileDescriptors.closeQuietly(duplicate[0]);
            }
            Resources.closeQuietly(receiver, sender, listener);
        }
    }

    /** A direct composite of 2000 parts (over IOV_MAX) is sent whole. */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aCompositeOfMorePartsThanIovMaxIsSent(VSocketLink link) throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(link), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            int parts = 2000;
            Peers.Collector collector = new Peers.Collector(parts * 10L);
            Channel client = Peers.vsocketClient(group, List.of(link), collector).connect(server.localAddress()).sync()
                    .channel();
            CompositeByteBuf composite = client.alloc().compositeDirectBuffer(parts);
            CRC32 crc = new CRC32();
            for (int i = 0; i < parts; i++) {
                ByteBuf part = client.alloc().directBuffer(10);
                for (int j = 0; j < 10; j++) {
                    part.writeByte(i * 10 + j);
                    crc.update((byte) (i * 10 + j));
                }
                composite.addComponent(true, part);
            }
            client.writeAndFlush(composite).sync();
            assertEquals(crc.getValue(), collector.done.get(20, TimeUnit.SECONDS));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * After a large write that needed many rounds of writability (write spin count 1, a slow reader),
     * the loop goes quiet again: no writability interest is left armed to wake it on every turn.
     */
    @org.junit.jupiter.api.Test
    void aLoopIsQuietAfterALargeWriteToASlowReader() throws Exception {
        EventLoopGroup own = new VSocketEventLoopGroup(1);
        try {
            long total = 32L << 20;
            Peers.Collector received = new Peers.Collector(total);
            CompletableFuture<Channel> accepted = new CompletableFuture<>();
            Channel server = Peers.vsocketServer(own, List.of(VSocketLink.TCP),
                            new io.netty.channel.ChannelInitializer<Channel>() {
                                @Override
                                protected void initChannel(Channel ch) {
                                    ch.pipeline().addLast(received);
                                    accepted.complete(ch);
                                }
                            })
                    .childOption(io.netty.channel.ChannelOption.AUTO_READ, false)
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.TCP), new ChannelInboundHandlerAdapter())
                    .option(io.netty.channel.ChannelOption.WRITE_SPIN_COUNT, 1)
                    .connect(server.localAddress()).sync().channel();
            io.netty.channel.ChannelFuture written = client.writeAndFlush(client.alloc().directBuffer((int) total)
                    .writeZero((int) total));
            // The reader reads one batch at a time, with pauses, so the writer fills its socket often.
            Channel child = accepted.get(10, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (!received.done.isDone() && System.nanoTime() < deadline) {
                child.read();
                Thread.sleep(2);
            }
            received.done.get(1, TimeUnit.SECONDS);
            written.sync();
            java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
            long id = client.eventLoop().submit(() -> Thread.currentThread().threadId()).get();
            long before = threads.getThreadCpuTime(id);
            Thread.sleep(1000);
            long used = threads.getThreadCpuTime(id) - before;
            org.junit.jupiter.api.Assertions.assertTrue(used < 200_000_000L,
                    "the client's loop used " + used / 1_000_000 + " ms of CPU in an idle second");
            client.close().sync();
            server.close().sync();
        } finally {
            own.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * The TCP keep-alive and user-timeout options Netty's epoll channel has: set on the socket, read back
     * from it, listed among the channel's options; a value the kernel refuses fails naming the option.
     */
    @Test
    void tcpKeepAliveAndUserTimeoutOptionsReachTheSocket() {
        VSocketSocketChannel channel = new VSocketSocketChannel();
        try {
            ChannelConfig config = channel.config();
            assertTrue(config.setOption(VSocketChannelOption.TCP_KEEPIDLE, 42));
            assertTrue(config.setOption(VSocketChannelOption.TCP_KEEPINTVL, 7));
            assertTrue(config.setOption(VSocketChannelOption.TCP_KEEPCNT, 4));
            assertTrue(config.setOption(VSocketChannelOption.TCP_USER_TIMEOUT, 12_000));
            assertEquals(42, config.getOption(VSocketChannelOption.TCP_KEEPIDLE));
            assertEquals(7, config.getOption(VSocketChannelOption.TCP_KEEPINTVL));
            assertEquals(4, config.getOption(VSocketChannelOption.TCP_KEEPCNT));
            assertEquals(12_000, config.getOption(VSocketChannelOption.TCP_USER_TIMEOUT));
            assertEquals(42, config.getOptions().get(VSocketChannelOption.TCP_KEEPIDLE));
            ChannelException refused = assertThrows(
                    ChannelException.class,
                    () -> config.setOption(VSocketChannelOption.TCP_KEEPIDLE, -1));
            assertTrue(String.valueOf(refused.getMessage()).contains("TCP_KEEPIDLE")
                    || String.valueOf(refused.getCause()).contains("TCP_KEEPIDLE"), String.valueOf(refused));
            assertEquals(42, config.getOption(VSocketChannelOption.TCP_KEEPIDLE), "unchanged");
        } finally {
            channel.unsafe().closeForcibly();
        }
    }

    /**
     * An application moved from epoll or io_uring (or NIO with the JDK's extended options) keeps setting
     * its options by their constants: vsocket's channel takes them as its own, where it warned of each as
     * unknown and applied none. An option vsocket has no counterpart for stays unknown.
     */
    @Test
    void epollsIoUringsAndNiosOptionConstantsAreTakenAsVSocketsOwn() {
        VSocketSocketChannel channel = new VSocketSocketChannel();
        try {
            ChannelConfig config = channel.config();
            assertTrue(config.setOption(io.netty.channel.epoll.EpollChannelOption.TCP_KEEPIDLE, 42));
            assertTrue(config.setOption(io.netty.channel.uring.IoUringChannelOption.TCP_KEEPINTVL, 7));
            assertTrue(config.setOption(io.netty.channel.socket.nio.NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT), 4));
            assertTrue(config.setOption(io.netty.channel.epoll.EpollChannelOption.TCP_USER_TIMEOUT, 12_000));
            assertEquals(42, config.getOption(VSocketChannelOption.TCP_KEEPIDLE));
            assertEquals(7, config.getOption(VSocketChannelOption.TCP_KEEPINTVL));
            assertEquals(4, config.getOption(VSocketChannelOption.TCP_KEEPCNT));
            assertEquals(12_000, config.getOption(VSocketChannelOption.TCP_USER_TIMEOUT));
            assertEquals(42, config.getOption(io.netty.channel.epoll.EpollChannelOption.TCP_KEEPIDLE), "read back by epoll's name");
            assertEquals(false, config.setOption(io.netty.channel.epoll.EpollChannelOption.TCP_FASTOPEN_CONNECT, true),
                    "left unknown: a SYN carrying data would carry the hello's urgent byte");
        } finally {
            channel.unsafe().closeForcibly();
        }
    }

    /**
     * Epoll's options that shape the TCP connection itself — acknowledgements, segments, accept, bind — go
     * to the channel's TCP socket as epoll's channels pass them (helper-69's probe found each warned of as
     * unknown and ignored), read back by either name, and a server and client that set them still talk.
     */
    @Test
    void epollsTcpSocketOptionsArePassedToTheSocket() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        io.netty.bootstrap.ServerBootstrap sb = Peers.vsocketServer(group, List.of(VSocketLink.SHM, VSocketLink.TCP), Peers.Echo.INSTANCE)
                .option(io.netty.channel.epoll.EpollChannelOption.TCP_DEFER_ACCEPT, 5)
                .option(io.netty.channel.epoll.EpollChannelOption.TCP_FASTOPEN, 16)
                .option(io.netty.channel.epoll.EpollChannelOption.IP_FREEBIND, true);
        Channel server = sb.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        try {
            ChannelConfig sc = server.config();
            assertTrue((Integer) sc.getOption(VSocketChannelOption.TCP_DEFER_ACCEPT) > 0, "TCP_DEFER_ACCEPT");
            assertEquals(16, sc.getOption(io.netty.channel.epoll.EpollChannelOption.TCP_FASTOPEN));
            assertEquals(Boolean.TRUE, sc.getOption(VSocketChannelOption.IP_FREEBIND));
            assertEquals(16, sc.getOptions().get(io.netty.channel.ChannelOption.TCP_FASTOPEN));
            java.util.concurrent.BlockingQueue<Object> echoed = new java.util.concurrent.LinkedBlockingQueue<>();
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM, VSocketLink.TCP), new io.netty.channel.ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                            echoed.add(msg);
                        }
                    })
                    .option(io.netty.channel.epoll.EpollChannelOption.TCP_QUICKACK, true)
                    .option(io.netty.channel.epoll.EpollChannelOption.TCP_NOTSENT_LOWAT, 16_384L)
                    .connect(server.localAddress()).sync().channel();
            try {
                ChannelConfig cc = client.config();
                assertEquals(16_384L, cc.getOption(io.netty.channel.epoll.EpollChannelOption.TCP_NOTSENT_LOWAT));
                assertTrue(cc.setOption(VSocketChannelOption.TCP_CORK, true));
                assertEquals(Boolean.TRUE, cc.getOption(io.netty.channel.epoll.EpollChannelOption.TCP_CORK));
                assertTrue(cc.setOption(VSocketChannelOption.TCP_CORK, false));
                assertEquals(Boolean.FALSE, cc.getOption(VSocketChannelOption.TCP_CORK));
                if (root) { // (CAP_NET_ADMIN)
                    assertTrue(cc.setOption(io.netty.channel.epoll.EpollChannelOption.IP_TRANSPARENT, true));
                    assertEquals(Boolean.TRUE, cc.getOption(VSocketChannelOption.IP_TRANSPARENT));
                }
                assertThrows(IllegalArgumentException.class, () -> cc.setOption(VSocketChannelOption.TCP_NOTSENT_LOWAT, -1L));
                client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[] {1, 2, 3})).sync();
                io.netty.buffer.ByteBuf got = (io.netty.buffer.ByteBuf) echoed.poll(10, java.util.concurrent.TimeUnit.SECONDS);
                assertNotNull(got, "echoed");
                got.release();
            } finally {
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * Server channels that set {@code SO_REUSEPORT} (by epoll's constant, as an application moved from epoll
     * does) share one port, the kernel spreading the connections over them, and each serves its own over
     * shm as usual; without it the second bind fails as before.
     */
    @Test
    void serversThatSetSoReusePortShareAPortAndEachServesItsConnections() throws Exception {
        java.util.concurrent.atomic.AtomicInteger[] accepted = {new java.util.concurrent.atomic.AtomicInteger(),
                new java.util.concurrent.atomic.AtomicInteger()};
        Channel[] servers = new Channel[2];
        try {
            InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            for (int i = 0; i < 2; i++) {
                int which = i;
                servers[i] = Peers.vsocketServer(group, List.of(VSocketLink.SHM), Peers.Echo.INSTANCE)
                        .option(io.netty.channel.epoll.EpollChannelOption.SO_REUSEPORT, true)
                        .childHandler(new io.netty.channel.ChannelInitializer<Channel>() {
                            @Override
                            protected void initChannel(Channel ch) {
                                accepted[which].incrementAndGet();
                                ch.pipeline().addLast(Peers.Echo.INSTANCE);
                            }
                        })
                        .bind(at).sync().channel();
                assertEquals(Boolean.TRUE, servers[i].config().getOption(VSocketChannelOption.SO_REUSEPORT));
                at = (InetSocketAddress) servers[0].localAddress();
            }
            assertEquals(servers[0].localAddress(), servers[1].localAddress());
            var plain = Peers.vsocketServer(group, List.of(VSocketLink.TCP), Peers.Echo.INSTANCE).bind(at).await();
            assertTrue(plain.cause() instanceof java.net.BindException, "a listener without it still may not: " + plain.cause());
            for (int i = 0; i < 40; i++) {
                CompletableFuture<String> echoed = new CompletableFuture<>();
                Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM),
                        new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                                echoed.complete(((ByteBuf) msg).toString(java.nio.charset.StandardCharsets.US_ASCII));
                                ((ByteBuf) msg).release();
                            }
                        }).connect(at).sync().channel();
                client.writeAndFlush(io.netty.buffer.Unpooled.copiedBuffer("c" + i, java.nio.charset.StandardCharsets.US_ASCII));
                assertEquals("c" + i, echoed.get(10, TimeUnit.SECONDS));
                assertEquals(VSocketLink.SHM, ((VSocketSocketChannel) client).link(), "each server offers its own shm");
                client.close().sync();
            }
            assertEquals(40, accepted[0].get() + accepted[1].get());
            assertTrue(accepted[0].get() > 0 && accepted[1].get() > 0,
                    "the kernel spread 40 connections over both: " + accepted[0] + " and " + accepted[1]);
        } finally {
            for (Channel server : servers) {
                if (server != null) {
                    server.close().sync();
                }
            }
        }
    }
}
