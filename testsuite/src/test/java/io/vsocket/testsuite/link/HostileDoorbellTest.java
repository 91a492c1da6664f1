package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.unix.EventFd;
import io.vsocket.unix.UnixSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A same-host peer holds the other end of its shm link's doorbell: its flags, its buffer. When the
 * doorbell was an eventfd, a peer that made it blocking and filled its counter froze the server's loop
 * for good in the write of the ring that told it of new bytes (helper-47's probe: every other
 * connection of that loop stopped, accepts too; helper-49's went past any write with a kernel AIO
 * completion). Now the doorbell is the set-up's Unix connection and a ring a send that never waits: a
 * peer that stops reading its end and fills it costs itself its rings and nobody else anything. The
 * first test jams the server's end as well (full, and blocking), which a peer can no longer reach (it
 * is the socket the server accepted) but could while the client made the doorbell as a pair.
 */
class HostileDoorbellTest {
    private static final int TO_CLIENT_RECEIVER_PARKED = 256 + 128; // ShmLink's layout: the client's receive side

    private static EventLoopGroup serverGroup;
    private static EventLoopGroup clientGroup;
    private static EventLoopGroup hostileGroup;

    @BeforeAll
    static void start() {
        serverGroup = new VSocketEventLoopGroup(1); // one loop: the hostile client's server side shares it with the others
        clientGroup = new VSocketEventLoopGroup(1);
        hostileGroup = new VSocketEventLoopGroup(1); // its loop stops, as a peer that never reads its end
    }

    @AfterAll
    static void stop() throws InterruptedException {
        // Bounded: a loop frozen in a ring (the failure this test is for) never ends.
        hostileGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
        assertTrue(serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS), "the server's loop ended");
    }

    @Test
    void aPeerThatJamsTheDoorbellDoesNotFreezeTheLoopThatRingsIt() throws Exception {
        AtomicInteger ticks = new AtomicInteger();
        CompletableFuture<Channel> firstChild = new CompletableFuture<>();
        // The server writes a byte to each client every 20 ms, and echoes what it reads.
        Channel server = Peers.vsocketServer(serverGroup, List.of(VSocketLink.SHM), new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                firstChild.complete(ch);
                ch.pipeline().addLast(new Ticker(ticks), Peers.Echo.INSTANCE);
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel hostile = null;
        Channel victim = null;
        CountDownLatch release = new CountDownLatch(1);
        try {
            hostile = hostileClient(server);
            ShmLink hostileLink = shmLinkOf(hostile);
            ShmLink serverLink = shmLinkOf(firstChild.get(10, TimeUnit.SECONDS));
            // The hostile process stops reading its end (its loop stops), fills it through the server's
            // end (beyond what a peer can do now: the server's end is the socket it accepted), makes that
            // end blocking, and asks to be rung.
            CountDownLatch jammed = new CountDownLatch(1);
            hostile.eventLoop().execute(() -> {
                jam(serverLink.doorbellFd());
                ShmInternals.memory(hostileLink).set(JAVA_INT, TO_CLIENT_RECEIVER_PARKED, 1);
                jammed.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(jammed.await(10, TimeUnit.SECONDS), "jammed");
            // The server rings the jammed doorbell the next time it writes to the hostile client.
            int before = ticks.get();
            Thread.sleep(200);
            assertTrue(ticks.get() > before + 3, "the server's loop still runs its timers");

            EchoCheck echo = new EchoCheck();
            victim = Peers.vsocketClient(clientGroup, List.of(VSocketLink.SHM), echo)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.SHM, Peers.awaitLink(victim, VSocketLink.SHM));
            for (int i = 0; i < 20; i++) {
                echo.expect('a' + i % 26);
                victim.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {(byte) ('a' + i % 26)}));
                assertTrue(echo.seen.get(10, TimeUnit.SECONDS), "echo " + i + " over a loop that rings a jammed doorbell");
                Thread.sleep(10);
            }
        } finally {
            release.countDown();
            for (Channel c : new Channel[] {hostile, victim, server}) {
                if (c != null) {
                    c.close().await(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    /**
     * A Unix connection carries descriptors too, which no vsocket peer passes through its doorbell; the
     * kernel would release one that nobody takes on the loop that reads the doorbell back, and a
     * peer's file can make that wait (DoorbellTest: a lingering TCP socket). The server's loop takes
     * it, closes it off the loop, and drops the link with an error that says what happened.
     */
    @Test
    void aPeerThatPassesDescriptorsThroughTheDoorbellLosesItsLinkSaySo() throws Exception {
        CompletableFuture<Throwable> serverSaw = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(serverGroup, List.of(VSocketLink.SHM), new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        serverSaw.complete(cause);
                        ctx.close();
                    }
                }, Peers.Echo.INSTANCE);
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel hostile = null;
        Channel victim = null;
        try {
            hostile = hostileClient(server);
            ShmLink hostileLink = shmLinkOf(hostile);
            try (EventFd passed = EventFd.create()) {
                hostile.eventLoop().submit(() -> {
                    UnixSocket.send(hostileLink.doorbellFd(), "the hostile client's doorbell end", new byte[] {1},
                            passed.fd());
                    return null;
                }).get(10, TimeUnit.SECONDS);
            }
            // Rings to wake the server's loop as often as it takes to read the doorbell back.
            for (int i = 0; i < 40 && !serverSaw.isDone(); i++) {
                hostile.eventLoop().submit(() -> ShmInternals.ringPeer(hostileLink)).get(10, TimeUnit.SECONDS);
                Thread.sleep(20);
            }
            Throwable cause = serverSaw.get(10, TimeUnit.SECONDS);
            assertTrue(String.valueOf(cause.getMessage()).contains("passed descriptors through the shm link's doorbell"),
                    () -> "the server's channel says what the peer did: " + cause);
            assertTrue(hostile.closeFuture().await(10, TimeUnit.SECONDS), "the hostile client's connection ends");

            EchoCheck echo = new EchoCheck();
            victim = Peers.vsocketClient(clientGroup, List.of(VSocketLink.SHM), echo)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.SHM, Peers.awaitLink(victim, VSocketLink.SHM));
            echo.expect('z');
            victim.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'z'}));
            assertTrue(echo.seen.get(10, TimeUnit.SECONDS), "the server's loop serves others");
        } finally {
            for (Channel c : new Channel[] {hostile, victim, server}) {
                if (c != null) {
                    c.close().await(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    /** A client of the hostile group that drops what it reads, on shm. */
    private static Channel hostileClient(Channel server) throws Exception {
        Channel hostile = Peers.vsocketClient(hostileGroup, List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
            }
        }).connect(server.localAddress()).sync().channel();
        assertEquals(VSocketLink.SHM, Peers.awaitLink(hostile, VSocketLink.SHM));
        return hostile;
    }

    /** {@code channel}'s shm link, read on its loop. */
    private static ShmLink shmLinkOf(Channel channel) throws Exception {
        ShmLink link = channel.eventLoop().submit(() -> ShmInternals.link(channel)).get(10, TimeUnit.SECONDS);
        assertNotNull(link, "the shm link of " + channel);
        return link;
    }

    /**
     * Fills the socket behind {@code fd} (sends until it takes no more) and makes its description
     * blocking: a send of one byte by whoever rings it would then wait for good.
     */
    private static void jam(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment chunk = arena.allocate(4096);
            long sent = 0;
            long n;
            while ((n = LibC.send(errno, fd, chunk, chunk.byteSize(), LibC.MSG_DONTWAIT)) > 0) {
                sent += n;
            }
            assertEquals(LibC.EAGAIN, Downcalls.errno(errno), "filled after " + sent + " bytes");
            int flags = LibC.fcntl(errno, fd, LibC.F_GETFL, 0);
            assertEquals(0, LibC.fcntl(errno, fd, LibC.F_SETFL, flags & ~LibC.O_NONBLOCK), "made blocking");
        }
    }

    /** Writes a byte every 20 ms while its channel is active, counting them. One per channel. */
    private static final class Ticker extends ChannelInboundHandlerAdapter {
        private final AtomicInteger ticks;
        private ScheduledFuture<?> ticker;

        Ticker(AtomicInteger ticks) {
            this.ticks = ticks;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ticker = ctx.executor().scheduleAtFixedRate(() -> {
                ticks.incrementAndGet();
                ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'t'}));
            }, 20, 20, TimeUnit.MILLISECONDS);
            ctx.fireChannelActive();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (ticker != null) {
                ticker.cancel(false);
            }
            ctx.fireChannelInactive();
        }
    }

    /** Tells when the byte it expects comes back among the server's ticks. */
    private static final class EchoCheck extends ChannelInboundHandlerAdapter {
        private volatile int expected;
        volatile CompletableFuture<Boolean> seen = new CompletableFuture<>();

        void expect(int b) {
            expected = b;
            seen = new CompletableFuture<>();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                for (int i = buf.readerIndex(); i < buf.writerIndex(); i++) {
                    if (buf.getByte(i) == expected) {
                        seen.complete(true);
                    }
                }
            } finally {
                buf.release();
            }
        }
    }
}
