package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.verbs.QueuePair;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A connection whose rdma path fails mid-stream goes on over its TCP connection (issue 13, item 3),
 * in the SoftRoCE VM: each side streams its own deterministic stream to the other in writes of
 * random sizes (heap buffers, copied into the staging ring, and registered ones, sent in place)
 * through small rings, and while both directions are busy one side's queue pair is put in the
 * error state under it — what a cut RoCE path or a lost device does to it, seen from the link: its
 * requests fail, the peer hears nothing more. Both streams arrive whole and in order (CRC), the
 * application sees no error, and both channels then say they run on tcp and came from rdma.
 *
 * <p>One VM, one device: the emulated device loops packets back inside itself, past the network
 * stack, so a filtered RoCE port cannot cut it here; the queue pair's error state is the fault.
 */
@Tag("softroce")
@Timeout(300)
class RdmaFailoverTest {
    private static final long BYTES = 4L << 20;
    /** Faults per side: 20 in a row in every run of the VM suite. */
    private static final int FAULTS_PER_SIDE = Integer.getInteger("vsocket.failover.faultsPerSide", 10);
    private static EventLoopGroup group;

    enum Broken { CLIENT, SERVER }

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> faults() {
        return java.util.stream.IntStream.range(0, FAULTS_PER_SIDE).boxed().flatMap(i -> java.util.Arrays.stream(Broken.values())
                .map(side -> org.junit.jupiter.params.provider.Arguments.of(side, i)));
    }

    @ParameterizedTest(name = "{0}'s queue pair, fault {1}")
    @MethodSource("faults")
    void bothStreamsArriveWholeWhenOneSidesQueuePairFailsMidStream(Broken broken, int fault) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Peers.Collector fromClient = new Peers.Collector(BYTES);
        Channel server = server(fromClient, accepted, false);
        try {
            Peers.Collector fromServer = new Peers.Collector(BYTES);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), fromServer)
                    .option(VSocketChannelOption.RING_SIZE, 16384)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .connect(server.localAddress()).sync().channel();
            Channel serverChild = accepted.get(30, TimeUnit.SECONDS);
            assertEquals(VSocketLink.RDMA, Peers.awaitLink(client, VSocketLink.RDMA));
            assertEquals(VSocketLink.RDMA, Peers.linkOf(serverChild));

            Thread clientWriter = writer(client, 1, "client");
            Thread serverWriter = writer(serverChild, 2, "server");
            // Both directions busy: a quarter of each stream through, then the fault.
            java.util.function.Supplier<String> stalled = () -> "received " + fromClient.received() + " / "
                    + fromServer.received() + "; " + state(client) + "; " + state(serverChild) + "\n" + Peers.threadDump();
            awaitReceived(fromClient, BYTES / 4, stalled);
            awaitReceived(fromServer, BYTES / 4, stalled);
            Channel victim = broken == Broken.CLIENT ? client : serverChild;
            long faultNanos = System.nanoTime();
            victim.eventLoop().submit(() -> {
                queuePairOf(victim).toError();
                return null;
            }).sync();

            try {
                assertEquals(Peers.streamCrc(1, BYTES), fromClient.done.get(60, TimeUnit.SECONDS), "the client's stream");
                assertEquals(Peers.streamCrc(2, BYTES), fromServer.done.get(60, TimeUnit.SECONDS), "the server's stream");
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("streams not whole 60 s after the fault: the server received "
                        + fromClient.received() + ", the client " + fromServer.received() + " of " + BYTES + "; "
                        + state(client) + "; " + state(serverChild) + "; writers alive " + clientWriter.isAlive() + "/"
                        + serverWriter.isAlive(), e);
            }
            System.err.printf("PROGRESS fail-over (%s's queue pair broken): both streams whole, %d ms after the fault%n",
                    broken, (System.nanoTime() - faultNanos) / 1_000_000);
            clientWriter.join(30_000);
            serverWriter.join(30_000);
            assertTrue(client.isActive() && serverChild.isActive(), "both channels still open");
            assertTrue(!fromClient.error.isDone() && !fromServer.error.isDone(),
                    () -> "no error at either end: " + fromClient.error.getNow(null) + ", " + fromServer.error.getNow(null));
            for (Channel ch : List.of(client, serverChild)) {
                assertEquals(VSocketLink.TCP, Peers.linkOf(ch), ch + " runs on tcp now");
                assertEquals(VSocketLink.RDMA, ((VSocketSocketChannel) ch).failedOverFrom(), ch + " came from rdma");
            }
            client.close().sync();
            serverChild.closeFuture().await(10, TimeUnit.SECONDS);
        } finally {
            server.close().sync();
        }
    }

    /**
     * The fault comes right after the client shut its output down, with the end of its stream (and
     * bytes before it) still on the way: the server still reads every byte, then the end, and no error.
     */
    @ParameterizedTest(name = "{0}'s queue pair")
    @org.junit.jupiter.params.provider.EnumSource(Broken.class)
    void theEndOfAStreamShutDownJustBeforeTheFaultStillArrives(Broken broken) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Peers.Collector fromClient = new Peers.Collector(BYTES);
        // Half-closure: the server's channel stays open at the end of its input, so its link is still
        // there to break when the fault comes after it.
        Channel server = server(fromClient, accepted, true);
        try {
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), new Peers.Collector(0))
                    .option(VSocketChannelOption.RING_SIZE, 16384)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .connect(server.localAddress()).sync().channel();
            Channel serverChild = accepted.get(30, TimeUnit.SECONDS);
            StreamIntegrityTest.send(client, 3, new SplittableRandom(3), BYTES);
            // The fault right behind the shut-down: its end (and bytes before it) may still be on the way.
            Channel victim = broken == Broken.CLIENT ? client : serverChild;
            ((VSocketSocketChannel) client).shutdownOutput();
            victim.eventLoop().submit(() -> {
                queuePairOf(victim).toError();
                return null;
            }).sync();
            assertEquals(Peers.streamCrc(3, BYTES), fromClient.done.get(60, TimeUnit.SECONDS), "the client's stream");
            // The end of the stream follows the bytes, without an error.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!((VSocketSocketChannel) serverChild).isInputShutdown() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(((VSocketSocketChannel) serverChild).isInputShutdown(), "the server saw the end of the client's stream");
            assertTrue(!fromClient.error.isDone(), () -> "no error at the server: " + fromClient.error.getNow(null));
            System.err.printf("PROGRESS end after a fault (%s's queue pair): failed over from %s / %s%n", broken,
                    ((VSocketSocketChannel) client).failedOverFrom(), ((VSocketSocketChannel) serverChild).failedOverFrom());
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A server on rdma with tcp allowed, 16 KiB rings: its child collects the client's stream into
     * {@code fromClient} (which also records an exception, if one comes), and is handed to
     * {@code accepted} once active.
     */
    private static Channel server(Peers.Collector fromClient, CompletableFuture<Channel> accepted, boolean halfClosure)
            throws InterruptedException {
        return server(group, fromClient, accepted, halfClosure);
    }

    static Channel server(EventLoopGroup group, Peers.Collector fromClient, CompletableFuture<Channel> accepted,
            boolean halfClosure) throws InterruptedException {
        return Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(fromClient, new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                accepted.complete(ctx.channel());
                                ctx.fireChannelActive();
                            }
                        });
                    }
                })
                .childOption(VSocketChannelOption.RING_SIZE, 16384)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .childOption(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, halfClosure)
                .bind(new InetSocketAddress(RdmaChannelTest.ADDRESS, 0)).sync().channel();
    }

    static String state(Channel ch) {
        String link;
        try {
            Object ring = field(field(field(ch, "path"), "link"), "ring");
            StringBuilder fields = new StringBuilder();
            for (String name : List.of("posted", "completed", "delivered", "publishedTo", "peerConsumed", "peerProduced",
                    "creditReturned", "segments", "peerReady", "outputDone", "stopped", "failure")) {
                fields.append(' ').append(name).append('=').append(field(ring, name));
            }
            link = fields.toString();
        } catch (ReflectiveOperationException e) {
            link = " (" + e + ")";
        }
        return ch + " on " + Peers.linkOf(ch) + (ch.isActive() ? " active" : " inactive")
                + (ch.isWritable() ? " writable" : " unwritable, " + ch.bytesBeforeWritable() + " bytes before writable")
                + ";" + link;
    }

    /** Sends stream {@code seed} on its own thread (random sizes, heap and registered buffers). */
    static Thread writer(Channel channel, long seed, String name) {
        Thread t = new Thread(() -> {
            try {
                StreamIntegrityTest.send(channel, seed, new SplittableRandom(seed), BYTES);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "stream-" + name);
        t.start();
        return t;
    }

    /**
     * Waits until {@code collector} received {@code bytes}; a stream stalled before the fault fails
     * here, with {@code state}, rather than as a fault that broke it.
     */
    static void awaitReceived(Peers.Collector collector, long bytes, java.util.function.Supplier<String> state)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (collector.received() < bytes && System.nanoTime() < deadline && !collector.done.isDone()) {
            Thread.sleep(1);
        }
        if (collector.received() < bytes && !collector.done.isDone()) {
            throw new AssertionError("no fault yet, but only " + collector.received() + " of " + bytes
                    + " bytes came in 60 s: " + state.get());
        }
    }

    /** The queue pair under a channel's rdma link (the fault is injected there; nothing public reaches it). */
    private static QueuePair queuePairOf(Channel channel) throws ReflectiveOperationException {
        Object link = field(field(channel, "path"), "link");
        Object ring = field(link, "ring");
        return (QueuePair) field(ring, "qp");
    }

    private static Object field(Object owner, String name) throws ReflectiveOperationException {
        for (Class<?> c = owner.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(owner);
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        throw new NoSuchFieldException(name + " in " + owner.getClass());
    }
}
