package io.vsocket.testsuite.link;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FileRegion;
import io.netty.channel.socket.ChannelOutputShutdownException;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AbstractReferenceCounted;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An application that writes more than the ring holds and closes at once, not waiting for the write
 * (an HTTP server answering {@code Connection: close}, written carelessly): a socket's close leaves
 * its send buffer to the kernel, which delivers it after the close (epoll's peer got 4 of 4 MiB in a
 * probe, and 6 of 16), where the shm link's close used to drop all the 256 KiB ring could not take yet
 * and end the stream cleanly (the peer got 256 KiB of 1, 4 and 16 MiB, and took it for the whole).
 * Now the close first lets the ring take the flushed writes, and the peer reads every byte, then the
 * end. Against a peer that does not read, the close gives up once the peer took nothing for a second:
 * the rest is dropped and the peer reads what reached it, then a reset — never a clean end of a stream
 * cut short. An output shut-down right after such a write is done at once for the application while
 * its end waits behind the write (the peer reads every byte, then the end), as the kernel queues a
 * socket's end behind what it holds. A second close
 * meanwhile joins the first; a peer that closes meanwhile ends the wait. (On shm here, on rdma in the
 * VM; on tcp what goes after a close is the kernel's.)
 */
class WriteThenCloseTest {
    private static final int SIZE = 3 << 20;
    private static final long SEED = 7;
    static EventLoopGroup serverGroup;
    static EventLoopGroup clientGroup;

    @BeforeAll
    static void start() {
        serverGroup = new VSocketEventLoopGroup(1);
        clientGroup = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @Test
    void whatWasFlushedBeforeTheCloseReachesTheReadingPeerWhole() throws Exception {
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            readsTheWholeStreamThenACleanEnd(server);
            assertTrue(closer.write.get(10, TimeUnit.SECONDS).isSuccess(), "the write went whole: " + closer.write.get().cause());
            assertTrue(closer.close.get(10, TimeUnit.SECONDS).isSuccess(), "the close completed");
            ChannelFuture late = closer.writeAfterClose.get(10, TimeUnit.SECONDS);
            assertInstanceOf(ClosedChannelException.class, late.cause(), "a write after the close must fail");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aFileRegionFlushedBeforeTheCloseReachesTheReadingPeerWhole(@TempDir Path dir) throws Exception {
        // The region goes into the ring from the file (FileRegionWriter), not from a buffer.
        Path file = dir.resolve("stream");
        byte[] bytes = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            bytes[i] = Peers.streamByte(SEED, i);
        }
        Files.write(file, bytes);
        Closer closer = new Closer(false, file);
        Channel server = server(closer);
        try {
            readsTheWholeStreamThenACleanEnd(server);
            assertTrue(closer.write.get(10, TimeUnit.SECONDS).isSuccess(), "the region went whole: " + closer.write.get().cause());
        } finally {
            server.close().sync();
        }
    }

    @Test
    void whatWasFlushedBeforeAnOutputShutdownReachesThePeerBeforeItsEnd() throws Exception {
        Closer shutter = new Closer(true);
        Channel server = server(shutter);
        try {
            readsTheWholeStreamThenACleanEnd(server);
            assertTrue(shutter.write.get(10, TimeUnit.SECONDS).isSuccess(), "the write went whole: " + shutter.write.get().cause());
            assertTrue(shutter.close.get(10, TimeUnit.SECONDS).isSuccess(), "the output shut-down completed");
            // As epoll fails a write after the shut-down: a ClosedChannelException (saying why).
            Throwable late = shutter.writeAfterClose.get(10, TimeUnit.SECONDS).cause();
            assertInstanceOf(ClosedChannelException.class, late, "a write after the shut-down must fail");
            assertInstanceOf(ChannelOutputShutdownException.class, late.getCause());
        } finally {
            server.close().sync();
        }
    }

    @Test
    void anOutputShutdownIsDoneAtOnceWhileItsEndWaitsForThePeerToRead() throws Exception {
        // As shutdown(SHUT_WR) on a socket: done for the application at once, its end queued behind what
        // the kernel holds. (The shut-down's promise waited for the peer to read before: an application
        // that waited for it while its peer did not read waited for good.)
        Closer shutter = new Closer(true);
        Channel server = server(shutter);
        try {
            Peers.Collector collector = new Peers.Collector(SIZE);
            Channel client = askingClient(server, collector);
            Channel child = shutter.channel.get(10, TimeUnit.SECONDS);
            assertTrue(shutter.close.get(10, TimeUnit.SECONDS).isSuccess(), "the shut-down is done while the peer reads nothing");
            assertTrue(child.eventLoop().submit(((DuplexChannel) child)::isOutputShutdown).get(10, TimeUnit.SECONDS),
                    "the output counts as shut");
            Throwable late = shutter.writeAfterClose.get(10, TimeUnit.SECONDS).cause();
            assertInstanceOf(ClosedChannelException.class, late, "a write after the shut-down must fail");
            assertInstanceOf(ChannelOutputShutdownException.class, late.getCause());
            assertFalse(shutter.write.isDone(), "the write waits for the peer, nothing dropped");
            assertTrue(child.isActive(), "the channel stays open, its input too");
            client.config().setAutoRead(true);
            readsAllThenACleanEnd(collector);
            assertTrue(shutter.write.get(10, TimeUnit.SECONDS).isSuccess(), "the write went whole: " + shutter.write.get().cause());
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aWriteThatFailsBehindAHeldShutdownClosesWithoutASpuriousError() throws Exception {
        // Behind the held shut-down's writes, a region whose transfer fails: Netty's write error closes the
        // channel, and the end that waited has nothing left to shut — no ClosedChannelException into the
        // pipeline, as on epoll, where the failed write fails its promise and nothing more (the end used to
        // try its shut-down on the closed channel, and its void promise fired the failure).
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<ChannelFuture> region = new CompletableFuture<>();
        CompletableFuture<ChannelFuture> shut = new CompletableFuture<>();
        CompletableFuture<Channel> child = new CompletableFuture<>();
        ChannelInboundHandlerAdapter writer = new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                ctx.write(Peers.streamPart(ctx.channel(), SEED, 0, SIZE));
                region.complete(ctx.writeAndFlush(new FailingRegion()));
                shut.complete(((DuplexChannel) ctx.channel()).shutdownOutput());
                child.complete(ctx.channel());
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                errors.add(cause);
            }
        };
        Channel server = server(writer);
        try {
            Channel client = askingClient(server, new Peers.Watcher());
            assertTrue(shut.get(10, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS), "the shut-down is done");
            client.config().setAutoRead(true);
            ChannelFuture failed = region.get(10, TimeUnit.SECONDS);
            assertTrue(failed.await(10, TimeUnit.SECONDS) && failed.cause() instanceof IOException, "the region fails: " + failed.cause());
            assertTrue(child.get().closeFuture().await(10, TimeUnit.SECONDS), "the write error closed the channel");
            Thread.sleep(100); // (anything the close's own turn fired)
            for (Throwable t : errors) {
                assertFalse(t instanceof ClosedChannelException, "a spurious " + t);
            }
        } finally {
            server.close().sync();
        }
    }

    /** A region whose transfer fails at once. */
    private static final class FailingRegion extends AbstractReferenceCounted implements FileRegion {
        @Override
        public long position() {
            return 0;
        }

        @Override
        @Deprecated
        public long transfered() {
            return 0;
        }

        @Override
        public long transferred() {
            return 0;
        }

        @Override
        public long count() {
            return 16;
        }

        @Override
        public long transferTo(WritableByteChannel target, long position) throws IOException {
            throw new IOException("the region failed");
        }

        @Override
        public FileRegion retain() {
            super.retain();
            return this;
        }

        @Override
        public FileRegion retain(int increment) {
            super.retain(increment);
            return this;
        }

        @Override
        public FileRegion touch() {
            return this;
        }

        @Override
        public FileRegion touch(Object hint) {
            return this;
        }

        @Override
        protected void deallocate() {
        }
    }

    @Test
    void aPeerThatTakesNothingGetsTheRestDroppedAndAReset() throws Exception {
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = askingClient(server, watcher);
            // The peer reads nothing: the close gives up after ten seconds without progress.
            ChannelFuture closed = closer.close.get(40, TimeUnit.SECONDS);
            assertTrue(closed.isSuccess(), "the close completed");
            assertInstanceOf(ClosedChannelException.class, closer.write.get(10, TimeUnit.SECONDS).cause(),
                    "the write the close cut short fails");
            readsPartThenAReset(client, watcher);
            assertTrue(watcher.received > 0 && watcher.received < SIZE, "part of the stream, then the reset: " + watcher.received);
        } finally {
            server.close().sync();
        }
    }

    /**
     * A close that cannot wait for the ring, since its loop shuts down (a process that closes its channels
     * and then its group, without waiting for the closes): the rest is dropped, and the peer reads what
     * reached it, then a reset. Such a close ended the stream cleanly before (helper-53's probe, 4 of 8
     * runs, where the close ran after the group's shut-down had begun).
     */
    @Test
    void aCloseAsTheLoopShutsDownCutsTheStreamWithAReset() throws Exception {
        EventLoopGroup own = new VSocketEventLoopGroup(1);
        CompletableFuture<ChannelFuture> closed = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(own, List.of(link()), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                ctx.writeAndFlush(Peers.streamPart(ctx.channel(), SEED, 0, SIZE));
                own.shutdownGracefully(0, 10, TimeUnit.SECONDS); // (from the loop: shutting down from now on)
                ChannelFuture c = ctx.close();
                c.addListener(f -> closed.complete(c));
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .bind(new InetSocketAddress(address(), 0)).sync().channel();
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = askingClient(server, watcher);
            assertTrue(closed.get(20, TimeUnit.SECONDS).isSuccess(), "the close completed");
            readsPartThenAReset(client, watcher);
            assertTrue(watcher.received > 0 && watcher.received < SIZE, "part of the stream, then the reset: " + watcher.received);
        } finally {
            own.shutdownGracefully(0, 10, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A close waiting for the ring when its loop ends without closing its channels (a shut-down with no
     * quiet period that begins after the loop's last I/O turn, here from a task: Netty then skips the
     * handler's {@code prepareToDestroy}, and the handler's shut-down hook closes the channel): the channel's
     * close future completes and the write the close
     * cut short fails, as Netty's close does, and the peer reads part of the stream, then a reset. Before,
     * only the descriptors went: the close's promise succeeded but the close future never completed and
     * the write's promise never did either (helper-60's probe: 1 close in 20-30, an application waiting
     * on {@code closeFuture()} waited for good).
     */
    @Test
    void aCloseWaitingWhenTheLoopEndsWithoutClosingItStillCompletesItsCloseFuture() throws Exception {
        EventLoopGroup own = new VSocketEventLoopGroup(1);
        CompletableFuture<Channel> child = new CompletableFuture<>();
        CompletableFuture<ChannelFuture> write = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(own, List.of(link()), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                write.complete(ctx.writeAndFlush(Peers.streamPart(ctx.channel(), SEED, 0, SIZE)));
                ctx.close(); // waits for the peer, who reads nothing yet
                // From a task: the shut-down begins after this turn's I/O, so the loop ends without
                // its handler's prepareToDestroy (the window a shut-down from another thread may hit).
                ctx.executor().execute(() -> own.shutdownGracefully(0, 10, TimeUnit.SECONDS));
                child.complete(ctx.channel());
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .bind(new InetSocketAddress(address(), 0)).sync().channel();
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = askingClient(server, watcher);
            Channel closing = child.get(20, TimeUnit.SECONDS);
            assertTrue(own.terminationFuture().await(20, TimeUnit.SECONDS), "the group ended");
            assertTrue(closing.closeFuture().await(10, TimeUnit.SECONDS), "the close future completed");
            assertFalse(closing.isOpen());
            ChannelFuture written = write.get(10, TimeUnit.SECONDS);
            assertTrue(written.await(10, TimeUnit.SECONDS), "the write's promise completed");
            assertInstanceOf(ClosedChannelException.class, written.cause(), "the write the close cut short fails");
            readsPartThenAReset(client, watcher);
            assertTrue(watcher.received > 0 && watcher.received < SIZE, "part of the stream, then the reset: " + watcher.received);
        } finally {
            own.shutdownGracefully(0, 10, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * A group shut down with no quiet period while its loop runs a task (as {@code shutdownGracefully(0, ...)}
     * from another thread often meets it): Netty's loop then ends without the handler's
     * {@code prepareToDestroy}, and its open channels used to be closed only as the loop was destroyed,
     * where Netty could no longer run their {@code channelInactive} (it logged "Can't invoke task later",
     * with a stack trace, per channel: 3 of 8 runs of a program that closed its client and server and then
     * its group). Now they close as any close does, while the loop still runs tasks.
     */
    @Test
    void aGroupShutDownWithNoQuietPeriodWhileItsLoopRunsATaskClosesItsChannelsAsACloseDoes() throws Exception {
        EventLoopGroup own = new VSocketEventLoopGroup(1);
        CompletableFuture<Channel> child = new CompletableFuture<>();
        CompletableFuture<Void> inactive = new CompletableFuture<>();
        CompletableFuture<Void> unregistered = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(own, List.of(link()), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                child.complete(ctx.channel());
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                inactive.complete(null);
            }

            @Override
            public void channelUnregistered(ChannelHandlerContext ctx) {
                unregistered.complete(null);
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .bind(new InetSocketAddress(address(), 0)).sync().channel();
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = askingClient(server, watcher);
            client.config().setAutoRead(true);
            Channel open = child.get(20, TimeUnit.SECONDS);
            CountDownLatch inTask = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            open.eventLoop().execute(() -> {
                inTask.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(inTask.await(10, TimeUnit.SECONDS));
            Future<?> ended = own.shutdownGracefully(0, 10, TimeUnit.SECONDS);
            release.countDown();
            assertTrue(ended.await(20, TimeUnit.SECONDS), "the group ended");
            assertTrue(open.closeFuture().isDone(), "the child's close future completed");
            assertTrue(server.closeFuture().isDone(), "the server channel's close future completed");
            assertTrue(inactive.isDone(), "the child's channelInactive ran");
            assertTrue(unregistered.isDone(), "the child's channelUnregistered ran");
            assertTrue(client.closeFuture().await(10, TimeUnit.SECONDS), "the client saw the end");
        } finally {
            own.shutdownGracefully(0, 10, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aReaderThatPausesForSecondsStillGetsEverythingThenACleanEnd() throws Exception {
        // A reader that stops for a while (auto-read off for backpressure, a stopped process) while its peer
        // writes and closes: epoll's kernel holds what it took for as long; so does the ring link's close
        // (a pause of two seconds once got the ring's 256 KiB and a reset).
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            Peers.Collector collector = new Peers.Collector(SIZE);
            Channel client = askingClient(server, collector);
            closer.channel.get(10, TimeUnit.SECONDS);
            Thread.sleep(2_500);
            client.config().setAutoRead(true);
            readsAllThenACleanEnd(collector);
            assertTrue(closer.close.get(10, TimeUnit.SECONDS).isSuccess(), "the close completed");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aSecondCloseDuringTheWaitJoinsTheFirst() throws Exception {
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            Peers.Collector collector = new Peers.Collector(SIZE);
            Channel client = askingClient(server, collector);
            Channel child = closer.channel.get(10, TimeUnit.SECONDS);
            // The first close waits for the peer, who has read nothing yet; the application closes again
            // (a group's close beside a handler's, a listener closing on a failed write): the same close,
            // which drops nothing — as on epoll, where the kernel delivers after both.
            ChannelFuture second = child.eventLoop().submit(() -> child.close()).get(10, TimeUnit.SECONDS);
            client.config().setAutoRead(true);
            readsAllThenACleanEnd(collector);
            assertTrue(second.await(10, TimeUnit.SECONDS) && second.isSuccess(), "the second close completed");
            assertTrue(closer.close.get(10, TimeUnit.SECONDS).isSuccess(), "the first close completed");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aPeerThatClosesDuringTheWaitEndsIt() throws Exception {
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = askingClient(server, watcher);
            Channel child = closer.channel.get(10, TimeUnit.SECONDS);
            // The client goes away with the server's bytes unread (a reset): nothing can take the rest now.
            client.close().sync();
            assertTrue(closer.close.get(10, TimeUnit.SECONDS).isSuccess(), "the waiting close completed");
            assertTrue(child.closeFuture().await(10, TimeUnit.SECONDS), "the server's channel closed");
            assertInstanceOf(IOException.class, closer.write.get(10, TimeUnit.SECONDS).cause(),
                    "the write the peer's close cut short fails");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void aPeerThatWritesDuringTheWaitReadsEverythingThenAReset() throws Exception {
        Closer closer = new Closer();
        Channel server = server(closer);
        try {
            // The client reads, and sends more as the answer comes (a pipelined request): the closing
            // server reads no more of it, so its close is a reset, as a socket's with bytes unread —
            // after every byte it had written.
            Peers.Watcher watcher = new Peers.Watcher() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    if (received == 0) {
                        ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {3}));
                    }
                    super.channelRead(ctx, msg);
                }
            };
            Channel client = nonReadingClient(server, watcher);
            client.config().setAutoRead(true);
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1}));
            Throwable error = watcher.seen.get(20, TimeUnit.SECONDS);
            assertEquals(SIZE, watcher.received, "every byte before the end");
            assertInstanceOf(IOException.class, error, "a clean end where the server left bytes unread");
            assertTrue(error.getMessage().contains("reset"), error.getMessage());
        } finally {
            server.close().sync();
        }
    }

    /** A {@link #nonReadingClient} that has asked the server for its stream (one byte). */
    private Channel askingClient(Channel server, ChannelHandler handler) throws InterruptedException {
        Channel client = nonReadingClient(server, handler);
        client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1}));
        return client;
    }

    /** A client on the link under test that reads nothing (auto-read off) until told, its link known. */
    private Channel nonReadingClient(Channel server, ChannelHandler handler) throws InterruptedException {
        Channel client = Peers.vsocketClient(clientGroup, List.of(link()), handler)
                .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .option(ChannelOption.AUTO_READ, false).connect(server.localAddress()).sync().channel();
        assertEquals(link(), Peers.awaitLink(client, link()));
        return client;
    }

    /**
     * A peer that ends its output and then resets (shuts its output, then closes with {@code SO_LINGER} 0,
     * at once): on epoll the reads meet every byte and the end, and nothing reports the reset — TCP keeps
     * the end ahead of it —, so a half-closed channel stays open, its writes failing, and one that does
     * not half-close closes cleanly. On rdma the end travels on the queue pair and the reset on TCP, which
     * may come first: it waits for the end instead of being reported (helper-54's review).
     */
    @Test
    void aPeerThatEndsItsOutputThenResetsIsReadToItsEndWithoutAnError() throws Exception {
        int size = 100 << 10; // (less than a ring: the end goes in right behind the bytes)
        Channel server = Peers.vsocketServer(serverGroup, List.of(link()), new ChannelInboundHandlerAdapter() {
            @Override
            public boolean isSharable() {
                return true; // (one connection for each half-closure setting)
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg);
                ctx.writeAndFlush(Peers.streamPart(ctx.channel(), SEED, 0, size));
                ((DuplexChannel) ctx.channel()).shutdownOutput().addListener(f -> {
                    ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                    ctx.close();
                });
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .bind(new InetSocketAddress(address(), 0)).sync().channel();
        try {
            for (boolean halfClosure : new boolean[] {false, true}) {
                Peers.Collector collector = new Peers.Collector(size);
                CompletableFuture<Object> inputShut = new CompletableFuture<>();
                Channel client = Peers.vsocketClient(clientGroup, List.of(link()), new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(collector, new ChannelInboundHandlerAdapter() {
                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof io.netty.channel.socket.ChannelInputShutdownReadComplete) {
                                    inputShut.complete(evt);
                                }
                            }
                        });
                    }
                }).option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                        .option(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure)
                        .connect(server.localAddress()).sync().channel();
                assertEquals(link(), Peers.awaitLink(client, link()));
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1}));
                assertEquals(Peers.streamCrc(SEED, size), collector.done.get(20, TimeUnit.SECONDS), "the bytes the peer sent");
                if (halfClosure) {
                    inputShut.get(20, TimeUnit.SECONDS);
                    // Long enough for a reset that was going to be reported (it overtook the end) to be.
                    Thread.sleep(500);
                    assertNull(collector.error.getNow(null), "no error after the peer's end");
                    assertTrue(client.isOpen(), "half-closed, open for its output");
                    ChannelFuture write = client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {2}));
                    assertTrue(write.await(20, TimeUnit.SECONDS), "the write waited for good");
                    assertFalse(write.isSuccess(), "nothing took the write: the peer reset");
                    client.close().sync();
                } else {
                    collector.inactive.get(20, TimeUnit.SECONDS);
                    assertNull(collector.error.getNow(null), "a clean end after every byte: the reset came after the end");
                }
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * A client that reads as the bytes come asks the server for its stream (one byte), and reads all of
     * it, then a clean end of stream (which, without half-closure, closes it).
     */
    private void readsTheWholeStreamThenACleanEnd(Channel server) throws Exception {
        Peers.Collector collector = new Peers.Collector(SIZE);
        Channel client = Peers.vsocketClient(clientGroup, List.of(link()), collector)
                .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .connect(server.localAddress()).sync().channel();
        assertEquals(link(), Peers.awaitLink(client, link()));
        client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1}));
        readsAllThenACleanEnd(collector);
    }

    /** The collector got the whole stream, then a clean end of stream. */
    private static void readsAllThenACleanEnd(Peers.Collector collector) throws Exception {
        assertEquals(Peers.streamCrc(SEED, SIZE), collector.done.get(20, TimeUnit.SECONDS), "the bytes the peer read");
        collector.inactive.get(10, TimeUnit.SECONDS);
        assertNull(collector.error.getNow(null), "a clean end after every byte");
    }

    /** The client, reading now, gets what reached it and then a reset, never a clean end. */
    private static void readsPartThenAReset(Channel client, Peers.Watcher watcher) throws Exception {
        client.config().setAutoRead(true);
        Throwable error = watcher.seen.get(10, TimeUnit.SECONDS);
        assertInstanceOf(IOException.class, error, "a clean end after " + watcher.received + " of " + SIZE + " bytes");
        assertTrue(error.getMessage().contains("reset"), error.getMessage());
    }

    /** The link under test (the rdma variant runs in the SoftRoCE VM: {@link RdmaWriteThenCloseTest}). */
    VSocketLink link() {
        return VSocketLink.SHM;
    }

    String address() {
        return "127.0.0.1";
    }

    /** The hello's patience: the default here; longer in the VM, whose JVM is some 17x slower. */
    int helloTimeoutMillis() {
        return VSocketLinks.DEFAULT_HELLO_TIMEOUT_MILLIS;
    }

    /** A server whose child writes {@link #SIZE} bytes of the stream and closes at once when a byte comes. */
    private Channel server(ChannelHandler closer) throws InterruptedException {
        return Peers.vsocketServer(serverGroup, List.of(link()), new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(closer);
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, helloTimeoutMillis())
                .bind(new InetSocketAddress(address(), 0)).sync().channel();
    }

    /** Writes the stream and closes (or shuts its output) without waiting for the write; then writes once more. */
    private static final class Closer extends ChannelInboundHandlerAdapter {
        private final boolean shutOutput;
        final CompletableFuture<ChannelFuture> write = new CompletableFuture<>();
        final CompletableFuture<ChannelFuture> close = new CompletableFuture<>();
        final CompletableFuture<ChannelFuture> writeAfterClose = new CompletableFuture<>();
        final CompletableFuture<Channel> channel = new CompletableFuture<>();

        /** The stream as a file to write as a region, or null: a buffer. */
        private final Path file;

        Closer() {
            this(false);
        }

        Closer(boolean shutOutput) {
            this(shutOutput, null);
        }

        Closer(boolean shutOutput, Path file) {
            this.shutOutput = shutOutput;
            this.file = file;
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            ChannelFuture w = ctx.writeAndFlush(file == null ? Peers.streamPart(ctx.channel(), SEED, 0, SIZE)
                    : new DefaultFileRegion(file.toFile(), 0, SIZE));
            ChannelFuture c = shutOutput ? ((DuplexChannel) ctx.channel()).shutdownOutput() : ctx.close();
            ChannelFuture late = ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {2}));
            w.addListener(f -> write.complete(w));
            c.addListener(f -> close.complete(c));
            late.addListener(f -> writeAfterClose.complete(late));
            channel.complete(ctx.channel());
        }
    }
}
