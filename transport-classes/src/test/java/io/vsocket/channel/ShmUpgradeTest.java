package io.vsocket.channel;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.vsocket.handshake.Hello;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.HostIdentity;
import io.vsocket.link.shm.ShmHello;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.Doorbell;
import io.vsocket.unix.UnixSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two vsocket channels on one host at their default links: the client's connect completes as soon as
 * TCP's does, bytes flow over tcp at once, and both sides move onto shm when the hello completes —
 * each direction at the byte position its writer announced, nothing lost, doubled or reordered.
 */
@Timeout(120)
class ShmUpgradeTest {
    private static final int STREAM = 8 << 20;
    private static VSocketEventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    /**
     * Both sides write 8 MiB of their own pattern from {@code channelActive}, so each stream begins on
     * tcp and crosses the move: each side checks every byte of the other's, in order, and both end on shm.
     */
    @Test
    void bothStreamsCrossTheMoveFromTcpOntoShmWhole() throws Exception {
        CompletableFuture<String> serverGot = new CompletableFuture<>();
        AtomicReference<VSocketSocketChannel> child = new AtomicReference<>();
        Channel server = server()
                .childHandler(capturing(child, () -> new PatternPeer(2, serverGot))).bind(loopback()).sync().channel();
        try {
            CompletableFuture<String> clientGot = new CompletableFuture<>();
            CompletableFuture<VSocketLink> atActive = new CompletableFuture<>();
            PatternPeer clientPeer = new PatternPeer(1, clientGot) {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    atActive.complete(((VSocketSocketChannel) ctx.channel()).link());
                    super.channelActive(ctx);
                }
            };
            VSocketSocketChannel client = (VSocketSocketChannel) client().handler(clientPeer)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, atActive.get(10, TimeUnit.SECONDS),
                    "active over tcp, before the hello completed");
            assertEquals("whole", clientGot.get(60, TimeUnit.SECONDS), "the server's stream at the client");
            assertEquals("whole", serverGot.get(60, TimeUnit.SECONDS), "the client's stream at the server");
            assertEquals(VSocketLink.SHM, awaitShm(client), "the client moved onto shm");
            assertEquals(VSocketLink.SHM, awaitShm(child.get()), "the server moved onto shm");
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The move while both sides stream, again and again: once in some hundred connections the server
     * read every byte the client sent over tcp before it saw where the client's stream left tcp, held
     * the ring back for a tail that had already come, and returned — the last read: tcp had no more to
     * report and the ring, held back, never called, so both streams stalled for good (the test above
     * hung so in two full runs; here, beside two busy processes, in round 136 of 300). A stalled round
     * fails with both sides' state.
     */
    @Test
    void theMoveWhileBothSidesStreamNeverStalls() throws Exception {
        for (int round = 0; round < 40; round++) {
            CompletableFuture<String> serverGot = new CompletableFuture<>();
            AtomicReference<VSocketSocketChannel> child = new AtomicReference<>();
            Channel server = server()
                    .childHandler(capturing(child, () -> new PatternPeer(2, serverGot))).bind(loopback()).sync().channel();
            try {
                CompletableFuture<String> clientGot = new CompletableFuture<>();
                VSocketSocketChannel client = (VSocketSocketChannel) client().handler(new PatternPeer(1, clientGot))
                        .connect(server.localAddress()).sync().channel();
                try {
                    assertEquals("whole", clientGot.get(20, TimeUnit.SECONDS), "the server's stream at the client");
                    assertEquals("whole", serverGot.get(20, TimeUnit.SECONDS), "the client's stream at the server");
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new AssertionError("round " + round + " stalled: client " + state(client) + "; server "
                            + state(child.get()), e);
                }
                client.close().sync();
            } finally {
                server.close().sync();
            }
        }
    }

    private static String state(VSocketSocketChannel channel) throws Exception {
        return channel == null ? "none" : channel.eventLoop().submit(channel::linkState).get(5, TimeUnit.SECONDS);
    }

    /**
     * The server accepts 2 s after the connect (its accept loop busy, say): the client wrote at once,
     * over tcp, and still ends on shm with its bytes echoed in order; so does the server's side.
     */
    @Test
    void anOfferTwoSecondsLateStillMovesAClientThatAlreadyWroteOntoShm() throws Exception {
        AtomicReference<VSocketSocketChannel> child = new AtomicReference<>();
        Channel server = server()
                .option(ChannelOption.AUTO_READ, false)
                .childHandler(capturing(child, () -> new Echo())).bind(loopback()).sync().channel();
        try {
            Collector collector = new Collector();
            VSocketSocketChannel client = (VSocketSocketChannel) client().handler(collector)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.copiedBuffer("written before any offer|", StandardCharsets.US_ASCII))
                    .sync();
            Thread.sleep(2000);
            server.read(); // accepts now: the offer goes 2 s after the connect
            assertEquals("written before any offer|", collector.await(25));
            assertEquals(VSocketLink.SHM, awaitShm(client), "the client took the late offer");
            assertEquals(VSocketLink.SHM, awaitShm(child.get()));
            client.writeAndFlush(Unpooled.copiedBuffer("and after", StandardCharsets.US_ASCII)).sync();
            assertEquals("written before any offer|and after", collector.await(34));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that does not read (auto-read off) still takes the offer off the server's stream and
     * moves onto shm; the echo of what it wrote before the move waits for its read, whole.
     */
    @Test
    void aClientThatDoesNotReadStillMovesAndItsBytesWaitForItsRead() throws Exception {
        Channel server = server()
                .childHandler(new Echo()).bind(loopback()).sync().channel();
        try {
            Collector collector = new Collector();
            VSocketSocketChannel client = (VSocketSocketChannel) client().option(ChannelOption.AUTO_READ, false)
                    .handler(collector)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.copiedBuffer("before|", StandardCharsets.US_ASCII)).sync();
            assertEquals(VSocketLink.SHM, awaitShm(client), "moved without reading");
            client.writeAndFlush(Unpooled.copiedBuffer("after", StandardCharsets.US_ASCII)).sync();
            Thread.sleep(100);
            assertEquals("", collector.text.toString(), "nothing read before read()");
            for (int i = 0; i < 20 && collector.text.length() < 12; i++) {
                client.read();
                Thread.sleep(20);
            }
            assertEquals("before|after", collector.await(12));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The client shuts its output right after its request, before the move: that direction ends on
     * tcp (the server reads the request and its end), the other still moves, and the reply arrives.
     */
    @Test
    void anOutputShutOverTcpKeepsThatDirectionThereAndTheOtherStillMoves() throws Exception {
        Channel server = server()
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            private final StringBuilder request = new StringBuilder();

                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                request.append(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
                                ReferenceCountUtil.release(msg);
                            }

                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof ChannelInputShutdownEvent) {
                                    // Late enough for the server to have moved its writes onto shm.
                                    ctx.executor().schedule(() -> ctx.writeAndFlush(Unpooled.copiedBuffer(
                                                    "reply to " + request, StandardCharsets.US_ASCII))
                                            .addListener(ChannelFutureListener.CLOSE), 50, TimeUnit.MILLISECONDS);
                                }
                            }
                        });
                    }
                }).bind(loopback()).sync().channel();
        try {
            Collector collector = new Collector();
            VSocketSocketChannel client = (VSocketSocketChannel) client().option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(collector).connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII)).sync();
            client.shutdownOutput().sync();
            assertEquals("reply to ping", collector.await(13));
            assertTrue(await(client::isInputShutdown), "the server's end reached the client");
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The server shuts its output as soon as it is active (over tcp, before any move): the client
     * half-closes once, sees that everything was read once, and no error on the way.
     */
    @Test
    void aServerThatShutsItsOutputAtOnceHalfClosesTheClientOnce() throws Exception {
        Channel server = server()
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                ((DuplexChannel) ctx.channel()).shutdownOutput();
                            }
                        });
                    }
                }).bind(loopback()).sync().channel();
        try {
            AtomicInteger shut = new AtomicInteger();
            AtomicInteger allRead = new AtomicInteger();
            AtomicReference<Throwable> error = new AtomicReference<>();
            VSocketSocketChannel client = (VSocketSocketChannel) client().option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                                shut.incrementAndGet();
                            } else if (evt == ChannelInputShutdownReadComplete.INSTANCE) {
                                allRead.incrementAndGet();
                                ctx.executor().schedule(() -> ctx.close(), 100, TimeUnit.MILLISECONDS);
                            }
                        }

                        @Override
                        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                            error.compareAndSet(null, cause);
                            ctx.close();
                        }
                    }).connect(server.localAddress()).sync().channel();
            assertTrue(client.closeFuture().await(10, TimeUnit.SECONDS));
            assertNull(error.get());
            assertEquals(1, shut.get());
            assertEquals(1, allRead.get());
        } finally {
            server.close().sync();
        }
    }

    /**
     * A server whose offer names a rendezvous nobody listens on (a vsocket server that cannot take
     * shared memory): the client stays on tcp and both streams go on there.
     */
    @Test
    void aServerThatNeverTakesTheMemoryLeavesTheConnectionOnTcp() throws Exception {
        staysOnTcpWithoutTheOffer(offerNobodyTakes(Hello.VERSION));
    }

    /**
     * A server of another hello version (4: doorbells as eventfds): its offer comes off the stream
     * whole, unread, and the client stays on tcp — the server's own bytes behind it are the
     * application's, the offer is not.
     */
    @Test
    void anOfferOfAnotherVersionComesOffTheStreamAndTheConnectionStaysOnTcp() throws Exception {
        staysOnTcpWithoutTheOffer(offerNobodyTakes(Hello.VERSION - 1));
    }

    /** A server's offer of shm at a rendezvous nobody listens on, in hello {@code version}. */
    private static byte[] offerNobodyTakes(int version) {
        ByteBuf encoded = Unpooled.buffer();
        Hello.encode(new Hello.ServerHello(new byte[Hello.TOKEN_LENGTH], 65536, Map.of(VSocketLink.SHM,
                shmOffer(HostIdentity.local(), "vsocket-test-nobody-" + System.nanoTime()), VSocketLink.TCP,
                new byte[0])), encoded);
        encoded.setByte(8, version); // (the version's byte in the header)
        byte[] offer = ByteBufUtil.getBytes(encoded);
        encoded.release();
        return offer;
    }

    private void staysOnTcpWithoutTheOffer(byte[] offer) throws Exception {
        try (ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Socket> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    Socket s = plain.accept();
                    s.getOutputStream().write(offer);
                    s.getOutputStream().write("hello from the server|".getBytes(StandardCharsets.US_ASCII));
                    return s;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Collector collector = new Collector();
            VSocketSocketChannel client = (VSocketSocketChannel) client().handler(collector)
                    .connect(plain.getLocalSocketAddress()).sync().channel();
            client.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII)).sync();
            Socket s = accepted.get(10, TimeUnit.SECONDS);
            InputStream in = s.getInputStream();
            assertEquals("ping", new String(in.readNBytes(4), StandardCharsets.US_ASCII));
            assertEquals("hello from the server|", collector.await(22), "the offer is not the application's");
            Thread.sleep(200);
            client.writeAndFlush(Unpooled.copiedBuffer("pong", StandardCharsets.US_ASCII)).sync();
            assertEquals("pong", new String(in.readNBytes(4), StandardCharsets.US_ASCII), "still over tcp");
            assertEquals(VSocketLink.TCP, client.link());
            client.close().sync();
            ByteArrayOutputStream rest = new ByteArrayOutputStream();
            in.transferTo(rest);
            assertEquals(0, rest.size(), "nothing else reached the server");
            s.close();
        }
    }

    /**
     * A hostile same-host client (plain sockets, its own shared memory) sends 8 bytes over tcp and then
     * announces that its stream left tcp after 3: the server's channel closes with a protocol error
     * that says so, instead of taking ring bytes for the ones it already had.
     */
    @Test
    void aClientThatAnnouncesATcpEndBeforeBytesItSentIsCutOffWithAReason() throws Exception {
        CompletableFuture<Throwable> serverError = new CompletableFuture<>();
        AtomicInteger received = new AtomicInteger();
        Channel server = server()
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                received.addAndGet(((ByteBuf) msg).readableBytes());
                                ReferenceCountUtil.release(msg);
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                serverError.complete(cause);
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                serverError.complete(null);
                            }
                        });
                    }
                }).bind(loopback()).sync().channel();
        try (Socket s = handMadeUpgradeClient(server)) {
            s.getOutputStream().write("12345678".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            Hello.ServerHello offer = offerOf(in);
            assertTrue(await(() -> received.get() == 8), "the server read the client's bytes over tcp: " + received);
            String rendezvous = rendezvousOf(offer);
            ShmLink link;
            try (ShmLink.Offer memory = ShmLink.offer(65536, offer.ringSize())) {
                link = memory.link(Doorbell.adopt(UnixSocket.connect(rendezvous).release()));
                link.announceTcpEnd(3); // a lie: 8 went over tcp
                UnixSocket.send(link.doorbellFd(), "the rendezvous", offer.token(), memory.descriptors());
            }
            try {
                assertTrue(await(link::peerAttached), "the server attached the memory");
                ByteBuf ring = Unpooled.copiedBuffer("ring", StandardCharsets.US_ASCII);
                link.write(ring, 0, 4);
                link.publish();
                link.signalPeer();
                ring.release();
                Throwable error = serverError.get(10, TimeUnit.SECONDS);
                assertTrue(error instanceof RingProtocolException, "the server's error: " + error);
                assertTrue(error.getMessage().contains("left tcp after 3 bytes, but 8 came over tcp"), error.getMessage());
                assertEquals(8, received.get(), "no ring byte taken for the ones over tcp");
            } finally {
                link.close();
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * A server that resets the connection before its first byte (here a plain one: no offer ever comes) is a
     * read failure to a client still looking for the offer, met as epoll's client meets it: reported, and with
     * {@code AUTO_CLOSE} off and half-closure allowed, the input shut and the channel left open. (It was
     * failed and closed, helper-69's probe found.)
     */
    @Test
    void aResetBeforeTheOfferIsAReadFailureThatHalfClosureKeepsOpen() throws Exception {
        java.util.List<Object> events = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        CompletableFuture<Void> inputShut = new CompletableFuture<>();
        try (ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Channel c = client().option(ChannelOption.AUTO_CLOSE, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                            events.add(cause);
                        }

                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            events.add(evt);
                            if (evt instanceof ChannelInputShutdownEvent) {
                                inputShut.complete(null);
                            }
                        }
                    }).connect(plain.getLocalSocketAddress()).sync().channel();
            try {
                try (Socket s = plain.accept()) {
                    s.setSoLinger(true, 0);
                }
                inputShut.get(10, TimeUnit.SECONDS);
                assertTrue(events.get(0) instanceof IOException
                        && String.valueOf(((IOException) events.get(0)).getMessage()).contains("reset"), "events: " + events);
                assertTrue(c.isOpen(), "open, as the application asked");
            } finally {
                c.close().sync();
            }
        }
    }

    /**
     * A same-host client whose process dies after the server attached its memory but before it moved its
     * own writes (here: a client of plain sockets that drops the doorbell, then the socket, as the kernel
     * does for a dead process, without the link's close mark), with the server's reply unread in the
     * ring: the server's channel fails with the reset a socket's peer reads when a process dies with bytes
     * unread, not a clean end (its kernel's end of the socket alone says nothing of the ring's bytes).
     */
    @Test
    void aClientThatDiesBeforeItMovesWithTheServersBytesUnreadInTheRingResetsTheServer() throws Exception {
        Throwable error = dropTheLinkBeforeMoving((link, socket) -> {
            link.signalPeer(); // rings the server has not read back lie before the doorbell's end
            link.signalPeer();
            link.close(); // the doorbell first, then the socket: the order a dying process's may take
            socket.close();
        });
        assertTrue(error instanceof IOException && error.getMessage().startsWith("Connection reset by peer: ")
                && error.getMessage().contains("died"), "the server's error: " + error);
    }

    /**
     * As above, the socket closed first and the doorbell 5 ms later (the kernel closes a dead process's
     * descriptors one by one, and may be preempted between them): the server still reads the reset.
     */
    @Test
    void aClientThatDiesBeforeItMovesResetsTheServerWhicheverOfItsDescriptorsClosesFirst() throws Exception {
        long[] gap = new long[1];
        Throwable error = dropTheLinkBeforeMoving((link, socket) -> {
            long first = System.nanoTime();
            socket.close();
            Thread.sleep(5);
            link.close();
            gap[0] = System.nanoTime() - first;
        });
        // A death only while the doorbell closes within the server's grace after the socket's end: a test thread
        // held off the core longer than that (a loaded machine) is a live peer that shut its output, a clean end.
        // (Half of ShmUpgradeLink.DEATH_GRACE_NANOS, 50 ms: the grace runs from the server's read of the end.)
        Assumptions.assumeTrue(gap[0] < TimeUnit.MILLISECONDS.toNanos(25),
                "the two closes " + gap[0] / 1_000_000 + " ms apart, past the server's grace for a dying peer's");
        assertTrue(error instanceof IOException && error.getMessage().startsWith("Connection reset by peer: "),
                "the server's error: " + error);
    }

    /**
     * A client that shuts its output over tcp at the same point, alive (its doorbell open), is no death:
     * the server reads a clean end.
     */
    @Test
    void aClientThatShutsItsOutputBeforeItMovesWithTheServersBytesUnreadEndsCleanly() throws Exception {
        Throwable error = dropTheLinkBeforeMoving((link, socket) -> {
            socket.shutdownOutput();
            Thread.sleep(300); // alive past the server's wait for a doorbell to close
            link.close();
            socket.close();
        });
        assertNull(error, "the server read a clean end");
    }

    /**
     * The same, the server's channel reading only when its application asks, well after the client's end: its
     * reads still find the end (the socket, unwatched while the end waits to be told from a death, is read
     * again on the application's request), and a dead client's reset.
     */
    @Test
    void anApplicationThatReadsLateStillFindsTheEndOrTheDeathOfAClientBeforeItsMove() throws Exception {
        // (Alive through the server's read, and the wait for its doorbell that read begins.)
        assertNull(dropTheLinkBeforeMoving((link, socket) -> socket.shutdownOutput(), true), "the server read a clean end");
        Throwable error = dropTheLinkBeforeMoving((link, socket) -> {
            link.close();
            socket.close();
        }, true);
        assertTrue(error instanceof IOException && error.getMessage().startsWith("Connection reset by peer: "),
                "the server's error: " + error);
    }

    /** What a hostile same-host client does with its link and its socket once the server's reply lies in the ring. */
    private interface Ending {
        void end(ShmLink link, Socket socket) throws Exception;
    }

    /**
     * A client of plain sockets moves the server onto its memory, sends a byte over tcp, which the server
     * answers (into the ring: it attached), and then {@code ending}; the server's channel's error, or null
     * when it went inactive without one.
     */
    private static Throwable dropTheLinkBeforeMoving(Ending ending) throws Exception {
        return dropTheLinkBeforeMoving(ending, false);
    }

    /**
     * As {@link #dropTheLinkBeforeMoving(Ending)}; {@code readLate}: the server's channel stops reading once it
     * answered (auto-read off), and reads again only 300 ms after {@code ending}.
     */
    private static Throwable dropTheLinkBeforeMoving(Ending ending, boolean readLate) throws Exception {
        CompletableFuture<Throwable> serverError = new CompletableFuture<>();
        AtomicReference<Channel> child = new AtomicReference<>();
        Channel server = server()
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        child.set(ch);
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ReferenceCountUtil.release(msg);
                                ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[1000]));
                                if (readLate) {
                                    ctx.channel().config().setAutoRead(false);
                                }
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                serverError.complete(cause);
                                ctx.close();
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                serverError.complete(null);
                            }
                        });
                    }
                }).bind(loopback()).sync().channel();
        try (Socket s = handMadeUpgradeClient(server)) {
            InputStream in = s.getInputStream();
            Hello.ServerHello offer = offerOf(in);
            String rendezvous = rendezvousOf(offer);
            ShmLink link;
            try (ShmLink.Offer memory = ShmLink.offer(65536, offer.ringSize())) {
                link = memory.link(Doorbell.adopt(UnixSocket.connect(rendezvous).release()));
                UnixSocket.send(link.doorbellFd(), "the rendezvous", offer.token(), memory.descriptors());
            }
            try {
                assertTrue(await(link::peerAttached), "the server attached the memory");
                s.getOutputStream().write('?');
                assertTrue(await(() -> {
                    try {
                        return link.readable() == 1000;
                    } catch (RingProtocolException e) {
                        throw new IllegalStateException(e);
                    }
                }), "the server's reply lies in the ring");
                assertEquals(0, in.available(), "nothing of the server's unread in the socket");
                ending.end(link, s);
                if (readLate) {
                    Thread.sleep(300);
                    child.get().read(); // (a hang-up may have been read already, as epoll reads one, auto-read or not)
                }
                return serverError.get(10, TimeUnit.SECONDS);
            } finally {
                link.close();
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * A same-host client that passes a doorbell of its own making beside the memory (hello 5's shape: the
     * end of a socket pair it made, of which it could keep a copy and hold the server's reads of it up,
     * see DoorbellTest) is refused: the rendezvous takes the memfd alone, the connection it came on being
     * the doorbell, so the socket the server reads is always one it accepted itself. The connection stays
     * on tcp.
     */
    @Test
    void aClientThatPassesADoorbellOfItsOwnBesideTheMemoryIsRefused() throws Exception {
        AtomicReference<VSocketSocketChannel> child = new AtomicReference<>();
        Channel server = server().childHandler(capturing(child, Echo::new)).bind(loopback()).sync().channel();
        try (Socket s = handMadeUpgradeClient(server)) {
            s.setSoTimeout(10_000); // (a server that took the memory echoes over the ring, which nobody reads here)
            InputStream in = s.getInputStream();
            Hello.ServerHello offer = offerOf(in);
            String rendezvous = rendezvousOf(offer);
            Doorbell.Pair ownBell = Doorbell.pair();
            try (ShmLink.Offer memory = ShmLink.offer(65536, offer.ringSize());
                 ShmLink link = memory.link(ownBell.first());
                 Doorbell passed = ownBell.second();
                 UnixSocket r = UnixSocket.connect(rendezvous)) {
                r.send(offer.token(), memory.memFd(), passed.fd());
                assertTrue(await(() -> {
                    try {
                        UnixSocket.Received answer = r.receive(1, 0);
                        return answer != null && answer.isEndOfStream();
                    } catch (IOException e) {
                        return true; // reset: closed as well
                    }
                }), "the rendezvous closed the connection");
                s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
                assertEquals("ping", new String(in.readNBytes(4), StandardCharsets.US_ASCII), "echoed over tcp");
                assertFalse(link.peerAttached(), "the server attached memory that came with a doorbell of the client's");
                assertEquals(VSocketLink.TCP, child.get().link());
            }
        } finally {
            server.close().sync();
        }
    }

    /** A hostile client's read of the server's offer off the front of its stream. */
    private static Hello.ServerHello offerOf(InputStream in) throws IOException {
        byte[] header = in.readNBytes(Hello.HEADER);
        byte[] body = in.readNBytes(((header[10] & 0xff) << 8) | (header[11] & 0xff));
        return (Hello.ServerHello) Hello.decode(Unpooled.wrappedBuffer(header, body));
    }

    /** The name of the rendezvous the offer's shm part gives. */
    private static String rendezvousOf(Hello.ServerHello offer) throws IOException {
        return ShmHello.OfferPart.read(Unpooled.wrappedBuffer(offer.parts().get(VSocketLink.SHM))).rendezvous();
    }

    /** Waits up to 10 s for the channel's link to be shm; the link it has then. */
    static VSocketLink awaitShm(VSocketSocketChannel ch) throws InterruptedException {
        await(() -> ch.link() == VSocketLink.SHM);
        return ch.link();
    }

    /** Waits up to 10 s for {@code condition}; whether it held. */
    private static boolean await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    /** A vsocket server at its default links, on the test's group. */
    private static ServerBootstrap server() {
        return new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class);
    }

    /** A vsocket client at its default links, on the test's group. */
    private static Bootstrap client() {
        return new Bootstrap().group(group).channel(VSocketSocketChannel.class);
    }

    /** Gives each accepted channel a new {@code handler} and keeps the channel (a test accepts one). */
    private static ChannelInitializer<Channel> capturing(AtomicReference<VSocketSocketChannel> child,
                                                        Supplier<ChannelHandler> handler) {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                child.set((VSocketSocketChannel) ch);
                ch.pipeline().addLast(handler.get());
            }
        };
    }

    /** Writes its own pattern from channelActive and checks the peer's, byte by byte. */
    private static class PatternPeer extends ChannelInboundHandlerAdapter {
        private final long seed;
        private final CompletableFuture<String> result;
        private long sent;
        private long received;

        PatternPeer(long seed, CompletableFuture<String> result) {
            this.seed = seed;
            this.result = result;
        }

        static byte at(long seed, long i) {
            long x = (i + 1) * 0x9E3779B97F4A7C15L ^ seed;
            return (byte) (x ^ x >>> 29);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            writeMore(ctx);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            writeMore(ctx);
        }

        private void writeMore(ChannelHandlerContext ctx) {
            while (sent < STREAM && ctx.channel().isWritable()) {
                int n = (int) Math.min(7919, STREAM - sent); // odd sizes: the move lands inside writes
                ByteBuf b = ctx.alloc().buffer(n);
                for (int i = 0; i < n; i++) {
                    b.writeByte(at(seed, sent + i));
                }
                sent += n;
                ctx.writeAndFlush(b);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            try {
                long peerSeed = 3 - seed;
                while (b.isReadable()) {
                    byte got = b.readByte();
                    if (got != at(peerSeed, received)) {
                        result.complete("byte " + received + " differs");
                        ctx.close();
                        return;
                    }
                    received++;
                }
                if (received == STREAM) {
                    result.complete("whole");
                }
            } finally {
                b.release();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            result.complete("failed: " + cause);
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            result.complete("closed after " + received + " bytes");
        }
    }

    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg);
        }
    }

    /** Collects what a client reads as text. */
    private static final class Collector extends ChannelInboundHandlerAdapter {
        private final StringBuffer text = new StringBuffer();
        private volatile Throwable failure;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            text.append(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failure = cause;
        }

        /** Waits up to 10 s for {@code length} characters; what came. */
        String await(int length) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (text.length() < length && System.nanoTime() < deadline && failure == null) {
                Thread.sleep(2);
            }
            assertNull(failure);
            return text.toString();
        }
    }

    private static byte[] shmOffer(String hostId, String rendezvous) {
        ByteBuf part = Unpooled.buffer();
        new ShmHello.OfferPart(hostId, rendezvous).write(part);
        return ByteBufUtil.getBytes(part);
    }

    /**
     * A hand-made same-host client as the transport's own is: its SYN marked ({@link Hello#SYN_MARK}),
     * so that the server, at accept, takes it for a client going on over tcp and moving onto shm.
     */
    private static Socket handMadeUpgradeClient(Channel server) throws IOException {
        Socket s = new Socket();
        s.setTrafficClass(Hello.SYN_MARK);
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                ((InetSocketAddress) server.localAddress()).getPort()));
        return s;
    }
}
