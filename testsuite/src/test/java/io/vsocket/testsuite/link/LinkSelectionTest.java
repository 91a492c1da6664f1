package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.handshake.Hello;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.VSocketLinkException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which link a connection ends up on, and that plain TCP peers on either side are served: the hello
 * never leaks into a plain peer's stream, in client-first and server-first protocols, and a slow
 * vsocket server whose offer comes after the client gave up still gets a clean stream.
 */
@Timeout(60)
class LinkSelectionTest {
    private static final List<VSocketLink> DEFAULT = List.of(VSocketLink.SHM, VSocketLink.RDMA, VSocketLink.TCP);
    /**
     * Links that keep a client on one host off the same-host upgrade (rdma is preferred to shm), so that
     * it takes the general path a client between hosts takes: usable over tcp at once, moved by the
     * offer when it comes (as a timely one while it has sent nothing, else behind an urgent mark).
     */
    private static final List<VSocketLink> GATED = List.of(VSocketLink.RDMA, VSocketLink.SHM, VSocketLink.TCP);
    private static EventLoopGroup group;
    private static EventLoopGroup nio;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
        nio = new NioEventLoopGroup(1);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        nio.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress("127.0.0.1", 0);
    }

    /** A server handler that records the child's link and echoes. */
    private static final class LinkRecorder extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Channel> child = new CompletableFuture<>();

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            child.complete(ctx.channel());
            ctx.writeAndFlush(msg);
        }
    }

    private void echoOver(List<VSocketLink> serverLinks, List<VSocketLink> clientLinks, VSocketLink expected)
            throws Exception {
        LinkRecorder recorder = new LinkRecorder();
        Channel server = Peers.vsocketServer(group, serverLinks, recorder).bind(loopback()).sync().channel();
        try {
            byte[] payload = "hello over the link".getBytes(StandardCharsets.US_ASCII);
            Peers.Collector collector = new Peers.Collector(payload.length);
            Channel client = Peers.vsocketClient(group, clientLinks, collector).connect(server.localAddress()).sync()
                    .channel();
            client.writeAndFlush(Unpooled.wrappedBuffer(payload));
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals(new String(payload, StandardCharsets.US_ASCII), collector.text());
            // (On one host at the default links the connection begins on tcp and moves onto shm.)
            assertEquals(expected, Peers.awaitLink(client, expected), "client link");
            assertEquals(expected, Peers.awaitLink(recorder.child.get(10, TimeUnit.SECONDS), expected), "server link");
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    @Test
    void twoVSocketPeersOnOneHostUseShm() throws Exception {
        echoOver(DEFAULT, DEFAULT, VSocketLink.SHM);
    }

    @Test
    void aClientPinnedToTcpUsesTcp() throws Exception {
        echoOver(DEFAULT, List.of(VSocketLink.TCP), VSocketLink.TCP);
    }

    @Test
    void aServerThatOffersOnlyTcpGetsTcp() throws Exception {
        echoOver(List.of(VSocketLink.TCP), DEFAULT, VSocketLink.TCP);
    }

    @Test
    void noCommonLinkFailsTheConnectAndSaysWhy() throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.TCP), new LinkRecorder()).bind(loopback())
                .sync().channel();
        try {
            ExecutionException e = assertThrows(ExecutionException.class, () -> Peers.vsocketClient(group,
                    List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter()).connect(server.localAddress())
                    .get(10, TimeUnit.SECONDS));
            VSocketLinkException cause = assertInstanceOf(VSocketLinkException.class, e.getCause());
            assertTrue(cause.getMessage().contains("no common link"), cause.getMessage());
            assertTrue(cause.getMessage().contains("[SHM]") && cause.getMessage().contains("[TCP]"), cause.getMessage());
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aPlainNioClientIsServedOverTcp() throws Exception {
        LinkRecorder recorder = new LinkRecorder();
        Channel server = Peers.vsocketServer(group, DEFAULT, recorder).bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(4);
            Channel client = new Bootstrap().group(nio).channel(NioSocketChannel.class).handler(collector)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.wrappedBuffer("ping".getBytes(StandardCharsets.US_ASCII)));
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("ping", collector.text());
            assertEquals(VSocketLink.TCP, Peers.linkOf(recorder.child.get(10, TimeUnit.SECONDS)));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /** A server-first protocol: the server greets on connect, and a plain client gets the greeting. */
    @Test
    void aPlainNioClientGetsAServerFirstGreeting() throws Exception {
        Channel server = Peers.vsocketServer(group, DEFAULT, new Greeter("220 ready\r\n")).bind(loopback()).sync()
                .channel();
        try {
            Peers.Collector collector = new Peers.Collector(11);
            new Bootstrap().group(nio).channel(NioSocketChannel.class).handler(collector)
                    .connect(server.localAddress()).sync();
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("220 ready\r\n", collector.text());
        } finally {
            server.close().sync();
        }
    }

    /**
     * A plain loopback client's SYN carries no vsocket mark, so its server serves it over tcp at accept:
     * the greeting goes at once, not after the hello timeout that a server waits for the marker of a
     * client it cannot tell (an hour here, so that a server that waited would fail the test), and the
     * accepted channel is active before the client sent anything. A vsocket client at that server
     * still ends on shm, whether it goes on at once and moves (the default links, and rdma before shm) or
     * waits for the offer (shm alone).
     */
    @Test
    void aPlainLoopbackClientIsGreetedAtOnceWithoutAHelloWait() throws Exception {
        greetedAtOnce(loopback());
    }

    /**
     * A client whose SYN says it speaks vsocket ({@link Hello#SYN_MARK_HELLO}) is waited for, its marker or
     * its first bytes, as every client was before the marks (the server's hello timeout an hour here: its
     * greeting does not come while the client is silent); one that then speaks without the marker is
     * plain after all, and is served over tcp at once, the greeting first.
     */
    @Test
    void aClientThatMarksItsSynIsWaitedForAndServedAsPlainWhenItSpeaksWithoutTheMarker() throws Exception {
        Channel server = Peers.vsocketServer(group, DEFAULT, new Greeter("hi"))
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 3_600_000).bind(loopback()).sync().channel();
        try (java.net.Socket client = new java.net.Socket()) {
            client.setTrafficClass(Hello.SYN_MARK_HELLO);
            client.connect(server.localAddress());
            client.setSoTimeout(300);
            assertThrows(java.net.SocketTimeoutException.class, () -> client.getInputStream().read(),
                    "the server waits for a marked client's marker or first bytes");
            client.setSoTimeout(10_000);
            client.getOutputStream().write('x');
            assertEquals("hi", new String(client.getInputStream().readNBytes(2), StandardCharsets.US_ASCII));
        } finally {
            server.close().sync();
        }
    }

    /** The same over IPv6's loopback, whose SYNs carry the mark in their traffic class. */
    @Test
    void aPlainIpv6LoopbackClientIsGreetedAtOnceWithoutAHelloWait() throws Exception {
        InetSocketAddress v6 = new InetSocketAddress("::1", 0);
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.bind(v6);
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.abort("no IPv6 loopback here: " + e);
        }
        greetedAtOnce(v6);
    }

    private void greetedAtOnce(InetSocketAddress bindTo) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, DEFAULT, new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accepted.complete(ch);
                        ch.pipeline().addLast(new Greeter("220 ready\r\n"));
                    }
                }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 3_600_000).bind(bindTo).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(11);
            Channel plain = new Bootstrap().group(nio).channel(NioSocketChannel.class).handler(collector)
                    .connect(server.localAddress()).sync().channel();
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("220 ready\r\n", collector.text());
            assertEquals(VSocketLink.TCP, Peers.linkOf(accepted.get(10, TimeUnit.SECONDS)));
            plain.close().sync();
            // Also to the wildcard address (a server bound to a port alone names itself so), which Linux
            // connects to loopback: such a client marks its SYN too, or it would be served as plain.
            InetSocketAddress bound = (InetSocketAddress) server.localAddress();
            InetSocketAddress wildcard = new InetSocketAddress(bound.getAddress() instanceof java.net.Inet6Address
                    ? "::" : "0.0.0.0", bound.getPort());
            for (InetSocketAddress to : List.of(bound, wildcard)) {
                for (List<VSocketLink> links : List.of(DEFAULT, GATED, List.of(VSocketLink.SHM))) {
                    Peers.Collector greeted = new Peers.Collector(11);
                    Channel client = Peers.vsocketClient(group, links, greeted).connect(to).sync().channel();
                    greeted.done.get(10, TimeUnit.SECONDS);
                    assertEquals("220 ready\r\n", greeted.text(), links + " to " + to);
                    assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM), links + " to " + to);
                    client.close().sync();
                }
            }
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aVSocketClientTalksToAPlainNioServerOverTcp() throws Exception {
        Peers.Collector serverSide = new Peers.Collector(4);
        Channel server = new ServerBootstrap().group(nio).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ctx.writeAndFlush(((io.netty.buffer.ByteBuf) msg).retainedDuplicate());
                        serverSide.channelRead(ctx, msg);
                    }
                }).bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(4);
            Channel client = Peers.vsocketClient(group, DEFAULT, collector)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 100) // a plain server never answers
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client));
            client.writeAndFlush(Unpooled.wrappedBuffer("ping".getBytes(StandardCharsets.US_ASCII)));
            collector.done.get(10, TimeUnit.SECONDS);
            serverSide.done.get(10, TimeUnit.SECONDS);
            // The plain server saw exactly the application's bytes: the marker and hello never reached it.
            assertEquals("ping", serverSide.text());
            assertEquals("ping", collector.text());
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aVSocketClientGetsAPlainServersGreetingIntact() throws Exception {
        Channel server = new ServerBootstrap().group(nio).channel(NioServerSocketChannel.class)
                .childHandler(new Greeter("* OK imap\r\n")).bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(11);
            Channel client = Peers.vsocketClient(group, DEFAULT, collector).connect(server.localAddress()).sync()
                    .channel();
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("* OK imap\r\n", collector.text());
            assertEquals(VSocketLink.TCP, Peers.linkOf(client));
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aClientPinnedToShmRefusesAPlainServer() throws Exception {
        Channel server = new ServerBootstrap().group(nio).channel(NioServerSocketChannel.class)
                .childHandler(new Greeter("hi\r\n")).bind(loopback()).sync().channel();
        try {
            ExecutionException e = assertThrows(ExecutionException.class, () -> Peers.vsocketClient(group,
                    List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter()).connect(server.localAddress())
                    .get(10, TimeUnit.SECONDS));
            VSocketLinkException cause = assertInstanceOf(VSocketLinkException.class, e.getCause());
            assertTrue(cause.getMessage().contains("does not speak vsocket"), cause.getMessage());
        } finally {
            server.close().sync();
        }
    }

    /**
     * A vsocket server too slow to answer (it accepts only after the client's hello timeout). A client
     * at the default links on the server's host goes on over tcp at once and moves onto shm when the
     * late offer comes, whether it wrote first (echo) or not (greeting). A client that waits for the
     * hello (rdma preferred) goes on in plain tcp after its timeout: in a client-first exchange it has
     * written by the time the late offer comes, so it answers the offer behind an urgent mark in the
     * middle of its stream and both move to shm; in a server-first one it has sent nothing, so it takes
     * the offer as a timely one and both move to shm, the greeting with them.
     */
    @Test
    void aLateOfferFromASlowServerStillMovesAClientThatAlreadyWrote() throws Exception {
        slowServer(false, DEFAULT, VSocketLink.SHM);
    }

    @Test
    void aLateOfferFromASlowServerIsTakenByAClientThatSentNothing() throws Exception {
        slowServer(true, DEFAULT, VSocketLink.SHM);
    }

    @Test
    void aLateOfferFromASlowServerStillMovesAWaitingClientThatAlreadyWrote() throws Exception {
        slowServer(false, GATED, VSocketLink.SHM);
    }

    @Test
    void aLateOfferFromASlowServerIsTakenByAWaitingClientThatSentNothing() throws Exception {
        slowServer(true, GATED, VSocketLink.SHM);
    }

    private void slowServer(boolean serverFirst, List<VSocketLink> clientLinks, VSocketLink expected) throws Exception {
        ChannelInboundHandlerAdapter handler = serverFirst ? new Greeter("greeting") : Peers.Echo.INSTANCE;
        Channel server = Peers.vsocketServer(group, DEFAULT, handler).option(ChannelOption.AUTO_READ, false)
                .bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(8);
            Channel client = Peers.vsocketClient(group, clientLinks, collector)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 50).connect(server.localAddress()).sync()
                    .channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "the client went on in tcp");
            if (!serverFirst) {
                client.writeAndFlush(Unpooled.wrappedBuffer("echo me!".getBytes(StandardCharsets.US_ASCII)));
            }
            Thread.sleep(200);
            server.read(); // accept now: the child sees the marker and sends its (late) offer
            collector.done.get(20, TimeUnit.SECONDS);
            assertEquals(serverFirst ? "greeting" : "echo me!", collector.text());
            assertEquals(expected, Peers.awaitLink(client, expected));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that allows tcp does not wait for the hello (unless {@code -Dio.vsocket.linkUpgrade=false}):
     * its connect completes as TCP's does, it writes at once, and the offer that comes a round trip later
     * moves both sides onto the best common link behind an urgent mark in each stream, the echo of
     * everything it sent coming back whole — a client-first protocol on a healthy server, the usual case.
     */
    @Test
    void aClientThatAllowsTcpIsUsableAtOnceAndMovesWhenTheOfferComes() throws Exception {
        long length = 1L << 20;
        LinkRecorder recorder = new LinkRecorder();
        Channel server = Peers.vsocketServer(group, DEFAULT, recorder).bind(loopback()).sync().channel(); // (it echoes)
        try {
            Peers.Collector echoed = new Peers.Collector(length);
            CompletableFuture<VSocketLink> atActive = new CompletableFuture<>();
            Channel client = Peers.vsocketClient(group, GATED, new io.netty.channel.ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(ChannelHandlerContext ctx) {
                            // Read on the loop as the connect completes: by the time the test's thread
                            // looks, the offer may have come and moved the connection already.
                            atActive.complete(Peers.linkOf(ctx.channel()));
                            ctx.fireChannelActive();
                        }
                    }, echoed);
                }
            }).connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, atActive.get(10, TimeUnit.SECONDS), "the connect completed without waiting for the hello");
            java.util.SplittableRandom random = new java.util.SplittableRandom(9);
            Peers.sendStream(client, 9, length, () -> random.nextInt(1, 16385));
            assertEquals(Peers.streamCrc(9, length), echoed.done.get(30, TimeUnit.SECONDS));
            assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM));
            assertEquals(VSocketLink.SHM, Peers.awaitLink(recorder.child.get(10, TimeUnit.SECONDS), VSocketLink.SHM));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that waits for the hello gave up, went on over tcp and streams into the connection
     * while the server is still too slow to accept; the server, once it accepts, streams back on its
     * own. The offer then comes behind bytes already sent both ways: the client answers it behind an
     * urgent mark in the middle of its stream, the server behind its own, and both move onto shm with
     * every byte of both streams delivered once and in order (checksums), whatever was in flight.
     */
    @Test
    void aLateOfferMovesAStreamBusyBothWaysWithNothingLostOrReordered() throws Exception {
        long length = 8L << 20;
        CompletableFuture<Peers.Collector> fromClient = new CompletableFuture<>();
        CompletableFuture<Channel> child = new CompletableFuture<>();
        CompletableFuture<VSocketLink> activeOn = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> serverSendFailure = new java.util.concurrent.atomic.AtomicReference<>();
        Channel server = Peers.vsocketServer(group, DEFAULT, new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                Peers.Collector collector = new Peers.Collector(length);
                fromClient.complete(collector);
                child.complete(ch);
                ch.pipeline().addLast(collector, new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        activeOn.complete(Peers.linkOf(ctx.channel()));
                        Thread sender = new Thread(() -> {
                            try {
                                Peers.sendStream(ctx.channel(), 2, length, pieces(2));
                            } catch (Throwable t) {
                                serverSendFailure.set(t);
                            }
                        }, "server-stream");
                        sender.start();
                        ctx.fireChannelActive();
                    }
                });
            }
        }).option(ChannelOption.AUTO_READ, false).bind(loopback()).sync().channel();
        try {
            Peers.Collector fromServer = new Peers.Collector(length);
            Channel client = Peers.vsocketClient(group, GATED, fromServer)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 50).connect(server.localAddress()).sync()
                    .channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "the client went on in tcp");
            java.util.concurrent.atomic.AtomicReference<Throwable> clientSendFailure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread sender = new Thread(() -> {
                try {
                    Peers.sendStream(client, 1, length, pieces(1));
                } catch (Throwable t) {
                    clientSendFailure.set(t);
                }
            }, "client-stream");
            sender.start();
            Thread.sleep(300); // the client's bytes fill the socket before the server has even accepted
            server.read(); // accept now: the offer comes behind what the client sent
            assertEquals(Peers.streamCrc(1, length), fromClient.get(10, TimeUnit.SECONDS).done.get(60, TimeUnit.SECONDS),
                    "the client's stream as the server received it");
            assertEquals(Peers.streamCrc(2, length), fromServer.done.get(60, TimeUnit.SECONDS),
                    "the server's stream as the client received it");
            sender.join(10_000);
            assertEquals(null, clientSendFailure.get());
            assertEquals(null, serverSendFailure.get());
            assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM), "the client moved onto shm");
            assertEquals(VSocketLink.SHM, Peers.awaitLink(child.get(), VSocketLink.SHM), "the server moved onto shm");
            assertEquals(VSocketLink.TCP, activeOn.get(), "the server went on over tcp first: the client's bytes came "
                    + "where its choice belonged, and the choice came behind its mark");
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /** Piece sizes from 1 byte to 64 KiB, so that the marks fall in the middle of pieces and between them. */
    private static java.util.function.IntSupplier pieces(long seed) {
        java.util.Random random = new java.util.Random(seed);
        return () -> random.nextInt(4) == 0 ? 1 + random.nextInt(64) : 1 + random.nextInt(64 << 10);
    }

    /**
     * The server's output ends before its reads reach the client's marked choice (it greets and shuts
     * its output at once, and reads only later): it cannot answer, so it takes the choice off the stream
     * and goes on over tcp; the client, seeing the end of the server's stream where the answer belonged,
     * lets its held writes go over tcp. Every byte arrives, nothing of the hello in either stream.
     */
    @Test
    void aServerWhoseOutputEndedBeforeTheMarkLeavesBothOnTcp() throws Exception {
        CompletableFuture<Channel> child = new CompletableFuture<>();
        int first = 1000;
        int second = 200 << 10; // more than a read of the hello takes: the choice and these bytes come together
        Peers.Collector fromClient = new Peers.Collector(first + second);
        Channel server = Peers.vsocketServer(group, DEFAULT, new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                child.complete(ch);
                ch.pipeline().addLast(fromClient, new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(Unpooled.copiedBuffer("bye", StandardCharsets.US_ASCII))
                                .addListener(f -> ((io.netty.channel.socket.SocketChannel) ctx.channel()).shutdownOutput());
                        ctx.fireChannelActive();
                    }
                });
            }
        }).option(ChannelOption.AUTO_READ, false).childOption(ChannelOption.AUTO_READ, false)
                .bind(loopback()).sync().channel();
        try {
            Peers.Collector fromServer = new Peers.Collector(3);
            Channel client = Peers.vsocketClient(group, GATED, fromServer)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 50).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client));
            client.writeAndFlush(Peers.streamPart(client, 5, 0, first)).sync();
            Thread.sleep(200);
            server.read(); // accept: the offer, then "bye" and the end of the server's stream
            assertEquals("bye", textOf(fromServer));
            Thread.sleep(300); // the client answered the offer behind its mark, then saw the end
            client.writeAndFlush(Peers.streamPart(client, 5, first, second)).sync();
            child.get(10, TimeUnit.SECONDS).config().setAutoRead(true); // the server reads only now
            assertEquals(Peers.streamCrc(5, first + second), fromClient.done.get(10, TimeUnit.SECONDS),
                    "the client's bytes before and after its unanswered choice, and nothing of the choice");
            assertEquals(VSocketLink.TCP, Peers.linkOf(client));
            assertEquals(VSocketLink.TCP, Peers.linkOf(child.get()));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The client reads the late offer only after the server's patience closed its offers, while the server
     * streams 4 MiB at it (written at once on its side, so some of it waits behind the server's mark): the
     * server answers the marked choice with "tcp" behind its mark and its held bytes go right behind that
     * answer; both stay on tcp and both streams arrive whole.
     */
    @Test
    void aMarkedChoiceAfterTheServersPatienceIsAnsweredWithTcpAndBothStreamsStayWhole() throws Exception {
        long length = 4L << 20;
        CompletableFuture<Channel> child = new CompletableFuture<>();
        CompletableFuture<Peers.Collector> fromClient = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, DEFAULT, new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                Peers.Collector collector = new Peers.Collector(1000);
                fromClient.complete(collector);
                child.complete(ch);
                ch.pipeline().addLast(collector, new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        new Thread(() -> {
                            try {
                                Peers.sendStream(ctx.channel(), 4, length, pieces(4));
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }, "server-stream").start();
                        ctx.fireChannelActive();
                    }
                });
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 20) // offers kept 200 ms without a choice
                .bind(loopback()).sync().channel();
        try {
            Peers.Collector fromServer = new Peers.Collector(length);
            Channel client = Peers.vsocketClient(group, GATED, fromServer).option(ChannelOption.AUTO_READ, false)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Peers.streamPart(client, 5, 0, 1000)).sync(); // the server goes on over tcp
            assertEquals(Peers.streamCrc(5, 1000), fromClient.get(10, TimeUnit.SECONDS).done.get(10, TimeUnit.SECONDS));
            Thread.sleep(600); // the server's offers are gone
            client.config().setAutoRead(true); // the offer is read only now, and answered behind a mark
            assertEquals(Peers.streamCrc(4, length), fromServer.done.get(60, TimeUnit.SECONDS),
                    "the server's stream, with its answer in the middle of it taken out");
            assertEquals(VSocketLink.TCP, Peers.linkOf(client));
            assertEquals(VSocketLink.TCP, Peers.linkOf(child.get()));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The server shuts its input before its reads reach the client's mark: it still reads up to the mark
     * (dropping what the application no longer wants), answers the choice behind it, and both move onto
     * shm; the client's writes, held for the answer, complete.
     */
    @Test
    void aServerThatShutItsInputBeforeTheMarkStillAnswersIt() throws Exception {
        CompletableFuture<Channel> child = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, DEFAULT, new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                child.complete(ch);
                ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ((io.netty.channel.socket.SocketChannel) ctx.channel()).shutdownInput();
                        ctx.fireChannelActive();
                    }
                });
            }
        }).option(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .bind(loopback()).sync().channel();
        try {
            Channel client = Peers.vsocketClient(group, GATED, new Peers.Collector(0))
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Peers.streamPart(client, 6, 0, 1000)).sync(); // before the server even accepted
            Thread.sleep(200);
            server.read(); // accept: the offer, the client's bytes, the server's input shut
            assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM), "the client moved");
            assertTrue(client.writeAndFlush(Peers.streamPart(client, 6, 1000, 1000)).await(10, TimeUnit.SECONDS),
                    "a write after the answer completes");
            assertEquals(VSocketLink.SHM, Peers.awaitLink(child.get(10, TimeUnit.SECONDS), VSocketLink.SHM));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    private static String textOf(Peers.Collector collector) throws Exception {
        collector.done.get(10, TimeUnit.SECONDS);
        return collector.text();
    }

    /**
     * The offer comes 2 s late (the server accepts 2 s after the connect; the client gave up after
     * its 200 ms): a client that has sent nothing yet — a pooled connection, a server-first protocol
     * — still ends on shm, and so does the server's side; the bytes then cross on shm.
     */
    @Test
    void anOfferTwoSecondsLateStillMovesAQuietClientOntoShm() throws Exception {
        LinkRecorder recorder = new LinkRecorder();
        Channel server = Peers.vsocketServer(group, DEFAULT, recorder).option(ChannelOption.AUTO_READ, false)
                .bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(4);
            Channel client = Peers.vsocketClient(group, DEFAULT, collector).connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "no offer within the client's hello timeout");
            Thread.sleep(2000);
            server.read();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (Peers.linkOf(client) != VSocketLink.SHM && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(VSocketLink.SHM, Peers.linkOf(client), "the client took the late offer");
            client.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII));
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("ping", collector.text());
            assertEquals(VSocketLink.SHM, Peers.awaitLink(recorder.child.get(10, TimeUnit.SECONDS), VSocketLink.SHM));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that takes a late offer only after the server stopped waiting for a choice (the
     * client reads late: auto-read off) gets "tcp" for an answer, and both go on in tcp with nothing
     * of the hello in either stream; when the server wrote first, the offer is followed by its bytes,
     * and the client drops the offer without answering.
     */
    @Test
    void aChoiceAfterTheServerStoppedWaitingLeavesBothOnTcp() throws Exception {
        // A client choosing tcp itself (no rdma here, shm not among its links) gets no answer either.
        // (Clients that wait for the hello: a client at the default links on the server's host would move.)
        List<List<VSocketLink>> clientLinks = List.of(GATED, List.of(VSocketLink.RDMA, VSocketLink.TCP), GATED);
        for (int run = 0; run < 3; run++) {
            boolean serverFirst = run == 2;
            LinkRecorder recorder = new LinkRecorder();
            ChannelInboundHandlerAdapter handler = serverFirst ? new Greeter("hi") : recorder;
            Channel server = Peers.vsocketServer(group, DEFAULT, handler).option(ChannelOption.AUTO_READ, false)
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 20) // waits 200 ms for a choice
                    .bind(loopback()).sync().channel();
            try {
                Peers.Collector collector = new Peers.Collector(serverFirst ? 2 : 4);
                Channel client = Peers.vsocketClient(group, clientLinks.get(run), collector)
                        .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 50).option(ChannelOption.AUTO_READ, false)
                        .connect(server.localAddress()).sync().channel();
                assertEquals(VSocketLink.TCP, Peers.linkOf(client));
                server.read(); // the offer goes out now, and the server's patience starts
                Thread.sleep(1000);
                client.config().setAutoRead(true); // the client reads the offer only now
                if (!serverFirst) {
                    Thread.sleep(300);
                    client.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII));
                }
                collector.done.get(10, TimeUnit.SECONDS);
                assertEquals(serverFirst ? "hi" : "ping", collector.text(), "run " + run);
                assertEquals(VSocketLink.TCP, Peers.linkOf(client), "run " + run);
                if (!serverFirst) {
                    assertEquals(VSocketLink.TCP, Peers.linkOf(recorder.child.get(10, TimeUnit.SECONDS)));
                }
                client.close().sync();
            } finally {
                server.close().sync();
            }
        }
    }

    /**
     * A client that gave up on the hello and watches for a late offer does not spin while the server
     * stays silent (a plain server of a client-first protocol, with a client that has nothing to send
     * yet: a pooled connection, say). It once ran a read task after every read that found nothing, so
     * each such connection held its loop busy: {@code compare-idle} met it with a thousand idle
     * connections whose hellos the loaded loops answered late, and the two loops spun in those tasks
     * until nothing else ran. Its loop's CPU over a second of that wait, and the server's bytes still
     * arrive after it.
     */
    @Test
    void aClientWatchingForALateOfferFromASilentServerDoesNotSpin() throws Exception {
        EventLoopGroup own = new VSocketEventLoopGroup(1);
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(nio).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete(ctx.channel());
                    }
                }).bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(4);
            Channel client = Peers.vsocketClient(own, DEFAULT, collector)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 50).connect(server.localAddress()).sync()
                    .channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "the client gave up and went on in tcp");
            long cpu = ProcessResources.cpuNanosOver(ProcessResources.loopThreadIds(own), 1000);
            accepted.get(10, TimeUnit.SECONDS).writeAndFlush(Unpooled.copiedBuffer("hi\r\n", StandardCharsets.US_ASCII));
            collector.done.get(10, TimeUnit.SECONDS);
            client.close().sync();
            assertTrue(cpu < 100_000_000L, "the loop of a client waiting for a silent server used "
                    + cpu / 1_000_000 + " ms of CPU in 1 s");
            assertEquals("hi\r\n", collector.text());
        } finally {
            server.close().sync();
            own.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A server that sends part of an offer and then nothing (a vsocket server that hung in its hello,
     * or a broken one), cut inside the magic, after the header, and inside the body: a client that
     * allows tcp goes on over tcp within its hello timeout (it can still write to the server), and
     * drops the offer should its rest come later; a client pinned to shm fails within about the
     * hello timeout with a {@link VSocketLinkException} that says the offer stopped, instead of
     * waiting for its connect timeout.
     */
    @Test
    void aServerThatStopsInTheMiddleOfItsOfferCostsTheClientOneHelloTimeout() throws Exception {
        ByteBuf encoded = Unpooled.buffer();
        ByteBuf shmPart = Unpooled.buffer();
        new io.vsocket.link.shm.ShmHello.OfferPart("host", "rendezvous").write(shmPart);
        io.vsocket.handshake.Hello.encode(new io.vsocket.handshake.Hello.ServerHello(new byte[io.vsocket.handshake.Hello.TOKEN_LENGTH],
                65536, java.util.Map.of(VSocketLink.SHM, io.netty.buffer.ByteBufUtil.getBytes(shmPart), VSocketLink.TCP,
                        new byte[0])), encoded);
        shmPart.release();
        byte[] offer = new byte[encoded.readableBytes()];
        encoded.readBytes(offer);
        encoded.release();
        for (int cut : new int[] {3, io.vsocket.handshake.Hello.HEADER, offer.length - 5}) {
            try (java.net.ServerSocket plain = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
                CompletableFuture<java.net.Socket> accepted = acceptAndWrite(plain, offer, cut);
                // Allowed tcp: on tcp after one hello timeout.
                Peers.Collector collector = new Peers.Collector(6);
                long t0 = System.nanoTime();
                Channel client = Peers.vsocketClient(group, DEFAULT, collector)
                        .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 200).connect(plain.getLocalSocketAddress())
                        .sync().channel();
                long millis = (System.nanoTime() - t0) / 1_000_000;
                assertEquals(VSocketLink.TCP, Peers.linkOf(client), "cut at " + cut);
                assertTrue(millis < 2000, "connected after " + millis + " ms with an offer cut at " + cut);
                java.net.Socket server = accepted.get(10, TimeUnit.SECONDS);
                client.writeAndFlush(Unpooled.copiedBuffer("ping\r\n", StandardCharsets.US_ASCII)).sync();
                byte[] got = server.getInputStream().readNBytes(6);
                assertEquals("ping\r\n", new String(got, StandardCharsets.US_ASCII), "the client's bytes reach the server");
                // The rest of the offer comes late, then the server's own bytes: only those reach the client.
                server.getOutputStream().write(offer, cut, offer.length - cut);
                server.getOutputStream().write("pong\r\n".getBytes(StandardCharsets.US_ASCII));
                collector.done.get(10, TimeUnit.SECONDS);
                assertEquals("pong\r\n", collector.text(), "cut at " + cut);
                client.close().sync();
                server.close();
            }
            try (java.net.ServerSocket plain = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
                CompletableFuture<java.net.Socket> accepted = acceptAndWrite(plain, offer, cut);
                // Pinned to shm: fails within about the hello timeout, saying why.
                long t0 = System.nanoTime();
                ExecutionException e = assertThrows(ExecutionException.class, () -> Peers.vsocketClient(group,
                        List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter())
                        .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 200)
                        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 20_000)
                        .connect(plain.getLocalSocketAddress()).get(30, TimeUnit.SECONDS));
                long millis = (System.nanoTime() - t0) / 1_000_000;
                VSocketLinkException cause = assertInstanceOf(VSocketLinkException.class, e.getCause(),
                        "cut at " + cut + ": " + e.getCause());
                assertTrue(cause.getMessage().contains("offer"), cause.getMessage());
                assertTrue(millis < 5000, "the pinned client failed after " + millis + " ms with an offer cut at " + cut);
                accepted.get(10, TimeUnit.SECONDS).close();
            }
        }
    }

    /**
     * A same-host client at the default links is active over tcp at once and moves onto shm, or, with
     * {@code -Dio.vsocket.linkUpgrade=false} (the build runs this class so too), waits for the hello: its
     * link is shm when its connect completes, as the README says. (The same-host move once ignored that
     * setting: only {@code -Dio.vsocket.shmUpgrade=false} beside it made such a client wait.)
     */
    @Test
    void aClientAtTheDefaultLinksWaitsForTheHelloOnlyWithoutLinkUpgrade() throws Exception {
        Channel server = Peers.vsocketServer(group, DEFAULT, new LinkRecorder()).bind(loopback()).sync().channel();
        try {
            CompletableFuture<VSocketLink> atActive = new CompletableFuture<>();
            Channel client = Peers.vsocketClient(group, DEFAULT, new ChannelInboundHandlerAdapter() {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    atActive.complete(((VSocketSocketChannel) ctx.channel()).link());
                }
            }).connect(server.localAddress()).sync().channel();
            VSocketLink expected = io.vsocket.handshake.LinkNegotiation.UPGRADE ? VSocketLink.TCP : VSocketLink.SHM;
            assertEquals(expected, atActive.get(10, TimeUnit.SECONDS), "linkUpgrade " + io.vsocket.handshake.LinkNegotiation.UPGRADE);
            assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /** Accepts one connection on {@code server} and writes the first {@code length} bytes of {@code bytes} to it. */
    private static CompletableFuture<java.net.Socket> acceptAndWrite(java.net.ServerSocket server, byte[] bytes, int length) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                java.net.Socket s = server.accept();
                s.getOutputStream().write(bytes, 0, length);
                return s;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** Writes a greeting as soon as the connection is active. */
    private static final class Greeter extends ChannelInboundHandlerAdapter {
        private final String greeting;

        Greeter(String greeting) {
            this.greeting = greeting;
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(Unpooled.copiedBuffer(greeting, StandardCharsets.US_ASCII));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            io.netty.util.ReferenceCountUtil.release(msg);
        }
    }

    /** For a client that waits for the hello (here pinned to shm); one at the default links begins on tcp. */
    @Test
    void linkIsKnownWhenTheClientConnectCompletes() throws Exception {
        Channel server = Peers.vsocketServer(group, DEFAULT, Peers.Echo.INSTANCE).bind(loopback()).sync().channel();
        try {
            CompletableFuture<VSocketLink> atActive = new CompletableFuture<>();
            Peers.vsocketClient(group, List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter() {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    atActive.complete(((VSocketSocketChannel) ctx.channel()).link());
                    ctx.close();
                }
            }).connect(server.localAddress()).sync();
            assertEquals(VSocketLink.SHM, atActive.get(10, TimeUnit.SECONDS));
        } finally {
            server.close().sync();
        }
    }

    /**
     * A server-side handler may write as soon as its channel is initialised, from another thread, to a
     * plain client that sends nothing (served at accept, its SYN unmarked): the bytes reach it.
     * (The pipeline is initialised once the hello has picked the link, so these writes no longer race
     * the hello; writes that do — from a handler of the server channel — wait for the link in flush0.)
     */
    @Test
    void writesBeforeTheHelloIsDoneWaitForTheLink() throws Exception {
        CompletableFuture<Channel> initialised = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, DEFAULT, new io.netty.channel.ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                initialised.complete(ch);
            }
        }).bind(loopback()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(5);
            Channel client = new Bootstrap().group(nio).channel(NioSocketChannel.class).handler(collector)
                    .connect(server.localAddress()).sync().channel();
            Channel child = initialised.get(10, TimeUnit.SECONDS);
            io.netty.channel.ChannelFuture written = child.writeAndFlush(Unpooled.copiedBuffer("early",
                    StandardCharsets.US_ASCII));
            collector.done.get(10, TimeUnit.SECONDS);
            assertEquals("early", collector.text());
            assertTrue(written.sync().isSuccess());
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }
}
