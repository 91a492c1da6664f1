package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.buffer.RegisteredMemory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.testsuite.softroce.DeviceResources;
import io.vsocket.testsuite.softroce.SoftRoce;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.MemoryWindow;
import io.vsocket.verbs.VerbsResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stream channels on the rdma link, in the SoftRoCE VM over rxe0 (whose netdev has
 * {@link #ADDRESS}): the link is chosen where the address has an RDMA device and not elsewhere,
 * streams arrive intact through small rings, a clean close is told apart from a dead peer process,
 * and five thousand connections on one group (more links than one completion queue serves) leave
 * no queue pair, memory region or descriptor behind.
 */
@Tag("softroce")
@Timeout(300)
class RdmaChannelTest {
    static final String ADDRESS = System.getProperty("vsocket.softroce.address", "169.254.77.1");
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void streamsArriveIntactThroughSmallRings() throws Exception {
        StreamIntegrityTest.echoIntact(group, VSocketLink.RDMA, new InetSocketAddress(ADDRESS, 0), 6, 1L << 20);
    }

    @Test
    void bothEndsUseRdmaAndACleanCloseIsNoError() throws Exception {
        CompletableFuture<VSocketLink> serverLink = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                serverLink.complete(Peers.linkOf(ctx.channel()));
                ctx.writeAndFlush(Unpooled.copiedBuffer("bye", StandardCharsets.US_ASCII)).addListener(f -> ctx.close());
            }
        }).bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(3);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), collector)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client));
            assertEquals(VSocketLink.RDMA, serverLink.get(20, TimeUnit.SECONDS));
            collector.inactive.get(20, TimeUnit.SECONDS);
            assertEquals("bye", collector.text());
            assertTrue(!collector.error.isDone(), () -> "a clean close reported " + collector.error.getNow(null));
        } finally {
            server.close().sync();
        }
    }

    /**
     * The server accepts 2 s after the client gave up waiting for its offer (200 ms): the client,
     * having sent nothing yet, takes the late offer, and the connection moves onto rdma at both ends;
     * a stream then crosses it intact.
     */
    @Test
    void anOfferTwoSecondsLateStillMovesAQuietClientOntoRdma() throws Exception {
        List<VSocketLink> links = List.of(VSocketLink.RDMA, VSocketLink.TCP);
        CompletableFuture<Channel> child = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, links, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                child.complete(ctx.channel());
                ctx.writeAndFlush(msg);
            }

            @Override
            public boolean isSharable() {
                return true;
            }
        }).option(io.netty.channel.ChannelOption.AUTO_READ, false)
                // The server waits ten of these for the choice: in the emulator, the client's first
                // queue pair on a loop (its context opened then) takes longer than ten of 200 ms.
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(64 << 10);
            Channel client = Peers.vsocketClient(group, links, collector).option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 200)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "no offer within the client's hello timeout");
            Thread.sleep(2000);
            server.read();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Peers.linkOf(client) != VSocketLink.RDMA && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client), "the client took the late offer");
            StreamIntegrityTest.send(client, 11, new java.util.SplittableRandom(11), 64 << 10);
            assertEquals(Peers.streamCrc(11, 64 << 10), collector.done.get(30, TimeUnit.SECONDS));
            assertEquals(VSocketLink.RDMA, Peers.linkOf(child.get(10, TimeUnit.SECONDS)));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * The same late offer to a client that has already written (a client-first protocol): the client's
     * first half of a stream goes over tcp before the server even accepts, the client then answers the
     * offer behind an urgent mark in the middle of its stream and the server behind its echo of that
     * half, the second half goes over rdma, and the echo comes back whole and in order on rdma at both ends.
     */
    @Test
    void anOfferTwoSecondsLateStillMovesAClientThatWroteOntoRdma() throws Exception {
        List<VSocketLink> links = List.of(VSocketLink.RDMA, VSocketLink.TCP);
        CompletableFuture<Channel> child = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, links, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                child.complete(ctx.channel());
                ctx.writeAndFlush(msg);
            }

            @Override
            public boolean isSharable() {
                return true;
            }
        }).option(io.netty.channel.ChannelOption.AUTO_READ, false)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000) // as above
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            int half = 64 << 10;
            Peers.Collector collector = new Peers.Collector(2L * half);
            Channel client = Peers.vsocketClient(group, links, collector).option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 200)
                    .connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "no offer within the client's hello timeout");
            client.writeAndFlush(Peers.streamPart(client, 11, 0, half)).sync(); // over tcp, before the server accepts
            Thread.sleep(2000);
            server.read();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Peers.linkOf(client) != VSocketLink.RDMA && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client), "the client took the late offer behind its mark");
            client.writeAndFlush(Peers.streamPart(client, 11, half, half));
            assertEquals(Peers.streamCrc(11, 2L * half), collector.done.get(30, TimeUnit.SECONDS));
            assertEquals(VSocketLink.RDMA, Peers.linkOf(child.get(10, TimeUnit.SECONDS)));
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    @Test
    void anAddressWithoutAnRdmaDeviceFallsBackOrFailsWhenPinned() throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP),
                    new Peers.Collector(1)).connect(server.localAddress()).sync().channel();
            assertEquals(VSocketLink.TCP, Peers.linkOf(client), "loopback has no RoCE address");
            client.close().sync();
            ExecutionException failed = assertThrows(ExecutionException.class, () -> Peers.vsocketClient(group,
                    List.of(VSocketLink.RDMA), new Peers.Collector(1)).connect(server.localAddress()).get(20,
                    TimeUnit.SECONDS));
            assertTrue(failed.getCause().getMessage().contains("no common link"), failed.getCause().getMessage());
        } finally {
            server.close().sync();
        }
    }

    /**
     * Buffers of the channel's allocator (registered memory on a machine with an RDMA device) are
     * sent without a copy: the bytes arrive intact, the channel counts them as sent in place, and
     * every buffer the link retained for the device is let go once its send completed. A buffer the
     * application still holds a reference to is copied instead (it may change it once the write
     * completes).
     */
    @Test
    void registeredBuffersAreSentInPlaceAndLetGo() throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), Peers.Echo.INSTANCE)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        int count = 64;
        int size = 16 * 1024;
        try {
            Peers.Collector collector = new Peers.Collector((long) count * size);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), collector)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .connect(server.localAddress()).sync().channel();
            assertInstanceOf(RegisteredAllocator.class, client.alloc(), "the default allocator where rdma is");
            List<ByteBuf> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ByteBuf buf = client.alloc().directBuffer(size);
                for (int j = 0; j < size; j++) {
                    buf.writeByte(Peers.streamByte(7, (long) i * size + j));
                }
                // Not retained: a buffer the application still holds a reference to is copied. Watching
                // its count without holding it shows the link's own hold go.
                sent.add(buf);
                client.writeAndFlush(buf);
            }
            assertEquals(Peers.streamCrc(7, (long) count * size), collector.done.get(60, TimeUnit.SECONDS));
            long inPlace = client.eventLoop().submit(() -> ((VSocketSocketChannel) client).bytesSentInPlace()).get();
            assertTrue(inPlace > 0 && inPlace <= (long) count * size, "bytes sent in place: " + inPlace);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (sent.stream().anyMatch(b -> b.refCnt() != 0) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            for (ByteBuf b : sent) {
                assertEquals(0, b.refCnt(), "the link let go of every buffer it sent in place");
            }
            // One the application keeps a reference to is copied, not sent in place.
            ByteBuf kept = client.alloc().directBuffer(size).writeZero(size);
            long before = client.eventLoop().submit(() -> ((VSocketSocketChannel) client).bytesSentInPlace()).get();
            client.writeAndFlush(kept.retainedDuplicate()).sync();
            long after = client.eventLoop().submit(() -> ((VSocketSocketChannel) client).bytesSentInPlace()).get();
            assertEquals(before, after, "a buffer the application still holds is copied");
            assertEquals(1, kept.refCnt());
            kept.release();
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * Netty's shutdown-output cases, with a vsocket peer on rdma instead of a java.net socket (which
     * cannot speak rdma): the side that shuts its output down stays active and readable, the peer
     * (half-closure allowed) gets the input-shutdown event after the last byte and can still answer,
     * a write after the shutdown fails without a writability change, and a server that does not
     * allow half-closure closes.
     */
    @Test
    void shutdownOutputEndsThePeersInputAndLeavesTheOtherDirectionOpen() throws Exception {
        BlockingQueue<Object> serverEvents = new LinkedBlockingQueue<>();
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                accepted.complete(ctx.channel());
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf buf = (ByteBuf) msg;
                while (buf.isReadable()) {
                    serverEvents.add((int) buf.readByte());
                }
                buf.release();
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                serverEvents.add(evt);
            }
        }).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            BlockingQueue<Object> clientEvents = new LinkedBlockingQueue<>();
            VSocketSocketChannel client = (VSocketSocketChannel) Peers.vsocketClient(group, List.of(VSocketLink.RDMA),
                    new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf buf = (ByteBuf) msg;
                            while (buf.isReadable()) {
                                clientEvents.add((int) buf.readByte());
                            }
                            buf.release();
                        }

                        @Override
                        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                            clientEvents.add("writability " + ctx.channel().isWritable());
                        }
                    }).connect(server.localAddress()).sync().channel();
            Channel child = accepted.get(20, TimeUnit.SECONDS);
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1})).sync();
            assertEquals(1, serverEvents.poll(20, TimeUnit.SECONDS));
            assertFalse(client.isOutputShutdown());

            client.shutdownOutput().sync();
            assertEquals(ChannelInputShutdownEvent.INSTANCE, serverEvents.poll(20, TimeUnit.SECONDS));
            assertEquals(ChannelInputShutdownReadComplete.INSTANCE, serverEvents.poll(20, TimeUnit.SECONDS));
            assertTrue(client.isOutputShutdown());
            assertFalse(client.isInputShutdown());
            assertTrue(client.isActive());
            assertTrue(child.isActive(), "half-closure allowed: the server's channel stays");
            assertTrue(((VSocketSocketChannel) child).isInputShutdown());

            ChannelFuture late = client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {3})).await();
            assertFalse(late.isSuccess(), "a write after shutting the output down fails");
            child.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {2})).sync();
            assertEquals(2, clientEvents.poll(20, TimeUnit.SECONDS), "the other direction still carries bytes");
            assertNull(clientEvents.poll(200, TimeUnit.MILLISECONDS), "no writability change, nothing else");
            child.close().sync();
            client.closeFuture().await(20, TimeUnit.SECONDS);
            assertFalse(client.isOpen(), "the peer's close ends the half-closed channel");
        } finally {
            server.close().sync();
        }

        // Without half-closure the server's channel closes when the peer's input ends.
        CompletableFuture<Void> childClosed = new CompletableFuture<>();
        Channel strict = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                childClosed.complete(null);
            }
        }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            VSocketSocketChannel client = (VSocketSocketChannel) Peers.vsocketClient(group, List.of(VSocketLink.RDMA),
                    new Peers.Collector(0)).option(ChannelOption.SO_LINGER, 0).connect(strict.localAddress()).sync()
                    .channel();
            client.shutdownOutput().sync();
            childClosed.get(20, TimeUnit.SECONDS);
            client.close().sync(); // SO_LINGER 0 after the output is shut: no error, no assertion
        } finally {
            strict.close().sync();
        }
    }

    /**
     * Netty's conditional-writability case, scaled to the emulator (8 MiB instead of 100 MiB): the
     * server writes 16 KiB buffers of its allocator (sent in place) only while its channel is
     * writable (water marks 8 and 16 KiB), from its read, its flush and its writability events;
     * every byte arrives.
     */
    @Test
    void writingOnlyWhileWritableDeliversEveryByte() throws Exception {
        int expected = 8 << 20;
        int chunk = 16 * 1024;
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new ChannelDuplexHandler() {
                    private int written;

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ((ByteBuf) msg).release();
                        writeWhileWritable(ctx);
                    }

                    @Override
                    public void flush(ChannelHandlerContext ctx) {
                        if (ctx.channel().isWritable()) {
                            writeWhileWritable(ctx);
                        } else {
                            ctx.flush();
                        }
                    }

                    @Override
                    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                        if (ctx.channel().isWritable()) {
                            writeWhileWritable(ctx);
                        }
                        ctx.fireChannelWritabilityChanged();
                    }

                    private void writeWhileWritable(ChannelHandlerContext ctx) {
                        while (ctx.channel().isWritable() && written < expected) {
                            int n = Math.min(expected - written, chunk);
                            written += n;
                            ctx.write(ctx.alloc().buffer(n).writeZero(n));
                        }
                        ctx.flush();
                    }
                });
            }
        }).childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 16 * 1024))
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(expected);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), collector)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {0}));
            collector.done.get(120, TimeUnit.SECONDS);
            assertEquals(expected, collector.received());
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * A reader that stops reading: the writer's credit runs out, its channel turns unwritable and the
     * rest waits in its outbound buffer; once the reader reads again every byte arrives, in order.
     */
    @Test
    void aSlowReaderStallsTheWriterWhichGoesOnWhenItReads() throws Exception {
        long total = 1L << 20;
        Peers.Collector collector = new Peers.Collector(total);
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(collector);
                accepted.complete(ch);
            }
        }).childOption(ChannelOption.AUTO_READ, false).childOption(VSocketChannelOption.RING_SIZE, 16384)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        try {
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), new ChannelInboundHandlerAdapter())
                    .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                    .connect(server.localAddress()).sync().channel();
            Channel reader = accepted.get(20, TimeUnit.SECONDS);
            long sent = 0;
            while (sent < total) {
                ByteBuf buf = client.alloc().directBuffer(8192);
                for (int i = 0; i < 8192; i++) {
                    buf.writeByte(Peers.streamByte(11, sent + i));
                }
                sent += 8192;
                client.writeAndFlush(buf);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (client.isWritable() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(!client.isWritable(), "a writer whose reader stopped runs out of credit and turns unwritable");
            assertTrue(collector.received() == 0, "nothing was read yet");
            reader.config().setAutoRead(true);
            assertEquals(Peers.streamCrc(11, total), collector.done.get(60, TimeUnit.SECONDS));
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!client.isWritable() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(client.isWritable(), "writable again once the reader caught up");
            client.close().sync();
        } finally {
            server.close().sync();
        }
    }

    /**
     * What a dead rdma peer had published is the application's, as over shm and as a socket delivers
     * what a dead peer sent, although its queue pair died with it: the credit the reads return goes to
     * the dead queue pair (and fails the link later: the stall or the retry limit), yet the bytes lie in
     * this side's ring, whole. An application that does not read (auto-read off) gets them all, then the
     * death, as epoll's hang-up read gives them, as soon as the death is known (the control connection's
     * end and the grace after it). (The link's failure once closed the channel with the rest unread; then
     * the channel waited for a read of the application's.) Reads that go on after the path failed
     * ({@code readsDeadPeersBytes}) are reached only where the failure comes within the grace, which the
     * emulator does not do on demand.
     */
    @Test
    void whatADeadRdmaPeerHadSentIsReadAlthoughThePathFailedSince() throws Exception {
        EchoServerProcess.Started server = EchoServerProcess.start("rdma", ADDRESS);
        try {
            Peers.Collector collector = new Peers.Collector(Long.MAX_VALUE);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), collector)
                    .option(ChannelOption.AUTO_READ, false)
                    // A 64 KiB ring returns credit every 16 KiB read: the reads below return some to the dead queue pair.
                    .option(VSocketChannelOption.RING_SIZE, 64 << 10)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, new io.netty.channel.FixedRecvByteBufAllocator(20 << 10))
                    .connect(new InetSocketAddress(ADDRESS, server.port())).sync().channel();
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client));
            int size = 48 << 10;
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[size])).sync();
            io.vsocket.stream.StreamLink ring = ShmInternals.ring(client);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (client.eventLoop().submit(ring::readable).get() < size && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(size, (int) client.eventLoop().submit(ring::readable).get(), "the echo came back, unread");
            assertEquals(0, collector.received(), "nothing read before the kill (auto-read is off)");
            server.process().destroyForcibly();
            server.process().waitFor(30, TimeUnit.SECONDS);
            collector.inactive.get(120, TimeUnit.SECONDS);
            assertEquals(size, collector.received(), "every byte the dead peer had sent, read before its death is reported");
            IOException io = assertInstanceOf(IOException.class, collector.error.get(1, TimeUnit.SECONDS));
            assertTrue(io.getMessage().contains("died"), io.getMessage());
            assertTrue(!client.config().isAutoRead(), "auto-read stayed off");
        } finally {
            server.process().destroyForcibly();
            server.process().waitFor(20, TimeUnit.SECONDS);
        }
    }

    @Test
    void aPeerProcessKilledMidStreamClosesTheChannelWithAnError() throws Exception {
        EchoServerProcess.Started server = EchoServerProcess.start("rdma", ADDRESS);
        // A second connection on the same loops, to an echo server in this process: it must go on.
        Channel localServer = Peers.vsocketServer(group, List.of(VSocketLink.RDMA), Peers.Echo.INSTANCE)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
        Peers.Collector survivorCollector = new Peers.Collector(2);
        Channel survivor = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), survivorCollector)
                .connect(localServer.localAddress()).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(Long.MAX_VALUE);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA), collector)
                    .connect(new InetSocketAddress(ADDRESS, server.port())).sync().channel();
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client));
            AtomicReference<Throwable> writeFailure = new AtomicReference<>();
            Thread writer = Peers.floodWhileActive(client, writeFailure);
            while (collector.received() < (256 << 10)) {
                Thread.sleep(5);
            }
            server.process().destroyForcibly();
            try {
                collector.inactive.get(30, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                System.err.println(Peers.threadDump());
                throw e;
            }
            writer.join(10_000);
            // What told: its control connection ended without the end of its stream (reported to the
            // pipeline), or a write met the peer gone first — its rings deregistered by the kernel,
            // or its connection ended — and failed, closing the channel as a failed TCP write does.
            Throwable cause = collector.error.isDone() ? collector.error.get() : writeFailure.get();
            IOException io = assertInstanceOf(IOException.class, cause, "the channel closed without saying why");
            assertTrue(io.getMessage().contains("died") || io.getMessage().contains("IBV_WC_")
                    || io.getMessage().contains("reset by peer"), io.getMessage());
            survivor.writeAndFlush(Unpooled.copiedBuffer("ok", StandardCharsets.US_ASCII));
            survivorCollector.done.get(20, TimeUnit.SECONDS);
            assertEquals("ok", survivorCollector.text(), "the other connection of the loops still works");
        } finally {
            survivor.close().sync();
            localServer.close().sync();
            server.process().destroyForcibly();
            server.process().waitFor(20, TimeUnit.SECONDS);
        }
    }

    /**
     * An idle rdma connection pins its receive rings only: the staging ring each side copies its
     * writes into is taken with its first write and given back after an idle period (a second
     * without writes, then the device's last requests confirmed), and a later write takes one again
     * and arrives intact. Counted in the memory the process has pinned ({@code VmPin}) less the
     * buffer pool's chunks (registered as the channels' allocator needs them), with 64 KiB
     * rings so that the staging rings stand out: {@value #IDLE_CONNECTIONS} connections pin
     * 2 × 64 KiB each open, about twice that right after an echo, and the first figure again once idle.
     */
    @Test
    void idleConnectionsGiveTheirStagingRingsBack() throws Exception {
        int ring = 64 * 1024;
        // Below RegisteredAllocator.MIN_REGISTERED: copied into the staging ring, not sent in place.
        int message = 512;
        EventLoopGroup own = new VSocketEventLoopGroup(2);
        try {
            Channel server = Peers.vsocketServer(own, List.of(VSocketLink.RDMA), Peers.Echo.INSTANCE)
                    .childOption(VSocketChannelOption.RING_SIZE, ring)
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            long base = pinnedOutsideThePool();
            List<Channel> clients = new ArrayList<>();
            List<Peers.Collector> collectors = new ArrayList<>();
            for (int i = 0; i < IDLE_CONNECTIONS; i++) {
                Peers.Collector collector = new Peers.Collector(2L * message);
                clients.add(Peers.vsocketClient(own, List.of(VSocketLink.RDMA), collector)
                        .option(VSocketChannelOption.RING_SIZE, ring).connect(server.localAddress()).sync().channel());
                collectors.add(collector);
            }
            long open = pinnedOutsideThePool() - base;
            CRC32 expected = new CRC32();
            byte[] first = new byte[message];
            byte[] second = new byte[message];
            for (int i = 0; i < message; i++) {
                first[i] = (byte) i;
                second[i] = (byte) (i * 7 + 3);
            }
            expected.update(first);
            expected.update(second);
            for (Channel client : clients) {
                client.writeAndFlush(Unpooled.wrappedBuffer(first));
            }
            for (Peers.Collector collector : collectors) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (collector.received() < message && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertEquals(message, collector.received(), "the first echo came back");
            }
            long busy = pinnedOutsideThePool() - base;
            // Idle: each side's sweep gives its ring back within two periods, the pool goes a period later.
            long idle = busy;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            while (idle > open + (1 << 20) && System.nanoTime() < deadline) {
                Thread.sleep(250);
                idle = pinnedOutsideThePool() - base;
            }
            System.err.printf("PROGRESS %d connections with 64 KiB rings, pinned per connection (both ends): open %.1f KiB, "
                    + "after an echo %.1f KiB, idle %.1f KiB%n", IDLE_CONNECTIONS, open / 1024.0 / IDLE_CONNECTIONS,
                    busy / 1024.0 / IDLE_CONNECTIONS, idle / 1024.0 / IDLE_CONNECTIONS);
            long rings = 2L * ring * IDLE_CONNECTIONS;
            assertTrue(open <= rings + (1 << 20), "open connections pin their receive rings only: " + open / 1024 + " KiB");
            assertTrue(busy >= open + rings * 3 / 4, "writing took staging rings: open " + open / 1024 + " KiB, after an echo "
                    + busy / 1024 + " KiB");
            assertTrue(idle <= open + (1 << 20), "idle connections gave their staging rings back: open " + open / 1024
                    + " KiB, after an echo " + busy / 1024 + " KiB, idle " + idle / 1024 + " KiB");
            for (Channel client : clients) {
                client.writeAndFlush(Unpooled.wrappedBuffer(second));
            }
            for (Peers.Collector collector : collectors) {
                assertEquals(expected.getValue(), collector.done.get(30, TimeUnit.SECONDS), "both echoes intact");
            }
            for (Channel client : clients) {
                client.close().sync();
            }
            server.close().sync();
        } finally {
            own.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    private static final int IDLE_CONNECTIONS = 40;

    /**
     * Two thousand rdma connections at once on one two-loop group (four thousand queue pairs, the
     * server's and the clients', some two thousand per loop: more than one completion queue serves,
     * so each loop makes further queues as its links arrive), each echoing a message; the memory
     * they pin is what their rings need and no more; after they close and the group shuts down, the
     * device's queue pairs, memory regions, completion queues and this process's descriptors are
     * back where they were. Five thousand with {@code -Dvsocket.softroce.connections=5000} (84 s in the
     * VM, and over three minutes in an hour when the build machine ran three times slower; the CI
     * suite keeps to two thousand so that its VM run stays well inside its time).
     */
    @Test
    void thousandsOfConnectionsOnOneGroupLeaveNothingBehind() throws Exception {
        DeviceBaseline before = DeviceBaseline.take();
        List<String> fdsBefore = SoftRoce.descriptorTargets();
        EventLoopGroup own = new VSocketEventLoopGroup(2);
        int connections = Integer.getInteger("vsocket.softroce.connections", 2000);
        long pinnedBefore = pinnedBytes();
        long t0 = System.nanoTime();
        try {
            Channel server = Peers.vsocketServer(own, List.of(VSocketLink.RDMA), Peers.Echo.INSTANCE)
                    .childOption(VSocketChannelOption.RING_SIZE, 4096)
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            int timersBefore = ProcessResources.scheduledTasks(own);
            List<Channel> clients = new ArrayList<>();
            List<Peers.Collector> collectors = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                Peers.Collector collector = new Peers.Collector(8);
                Channel client = Peers.vsocketClient(own, List.of(VSocketLink.RDMA), new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(collector);
                    }
                }).option(VSocketChannelOption.RING_SIZE, 4096).connect(server.localAddress()).sync().channel();
                assertEquals(VSocketLink.RDMA, Peers.linkOf(client));
                clients.add(client);
                collectors.add(collector);
                if (i % 100 == 99) {
                    System.err.println("PROGRESS connected " + (i + 1) + " at " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                }
            }
            Map<String, Integer> open = DeviceResources.now();
            assertTrue(open.getOrDefault("qp", 0) >= 2 * connections,
                    "every connection holds a queue pair on each side: " + before.counts + " -> " + open);
            // Each loop's first completion queue serves some 800 links; the rest went on further queues.
            int queues = open.getOrDefault("cq", 0) - before.counts.getOrDefault("cq", 0);
            assertTrue(queues > 2, "completion queues made for " + 2 * connections + " links on two loops: " + queues);
            // Pinned: each side's receive ring (4 KiB here, whole pages); a staging ring only once a
            // side writes (below); nothing else grows with the connections.
            long pinned = pinnedBytes() - pinnedBefore;
            System.err.printf("PROGRESS %d connections: %d completion queues, %.1f KiB pinned per connection "
                    + "(both ends, 4 KiB rings)%n", connections, queues, pinned / 1024.0 / connections);
            assertTrue(pinned <= connections * 2L * 4096 + (8L << 20), "pinned memory for " + connections
                    + " connections with 4 KiB rings: " + pinned / 1024 + " KiB");
            for (int i = 0; i < connections; i++) {
                ByteBuf message = Unpooled.buffer(8).writeLong(i);
                clients.get(i).writeAndFlush(message);
            }
            for (int i = 0; i < connections; i++) {
                collectors.get(i).done.get(60, TimeUnit.SECONDS);
            }
            System.err.printf("PROGRESS echoed at %d ms: %.1f KiB pinned per connection%n",
                    (System.nanoTime() - t0) / 1_000_000, (pinnedBytes() - pinnedBefore) / 1024.0 / connections);
            for (Channel client : clients) {
                client.close().sync();
            }
            System.err.println("PROGRESS closed at " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            // How long the loops take to run a task while the servers' sides close (their queue pairs
            // flushing): reported, not asserted (a closed link's flush is awaited without holding its loop).
            long slowest = 0;
            for (int i = 0; i < 20; i++) {
                slowest = Math.max(slowest, slowestLoopTurnMillis(own));
                Thread.sleep(50);
            }
            System.err.println("PROGRESS slowest loop turn after the closes: " + slowest + " ms");
            // Each closed link lingers until its end of output completes, bounded by a 10 s timer that
            // goes with the link: once the ends are through, the loops hold no timer per connection (a
            // few links whose end still retries towards a peer already gone keep theirs: 85 of 2,000
            // after 6 s in the VM, 11 after 9 s; before the timer went with its link all 2,000 stayed for
            // 10 s, and with the closes over in about 2 s some 1,000 would still be there at 9 s).
            long closed = System.nanoTime();
            int timers = ProcessResources.scheduledTasks(own);
            while (timers > timersBefore + 2 && System.nanoTime() - closed < TimeUnit.SECONDS.toNanos(9)) {
                Thread.sleep(100);
                timers = ProcessResources.scheduledTasks(own);
            }
            System.err.println("PROGRESS timers " + timers + " (" + timersBefore + " before) "
                    + (System.nanoTime() - closed) / 1_000_000 + " ms after the closes");
            assertTrue(timers < timersBefore + connections / 4, "timers pending on the loops after " + connections
                    + " closed rdma connections: " + timersBefore + " -> " + timers);
            server.close().sync();
        } finally {
            long t1 = System.nanoTime();
            own.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
            System.err.println("PROGRESS shut down in " + (System.nanoTime() - t1) / 1_000_000 + " ms");
        }
        before.assertRestored();
        // What this test left open; an earlier test's channels that finish closing meanwhile (a peer's
        // hang-up read now closes a child whose application does not read, as on epoll) do not count.
        assertEquals(List.of(), SoftRoce.descriptorsOpenedSince(fdsBefore), "descriptors left open after shutdown");
    }

    /**
     * A group shut down while five hundred of its rdma connections are open (an application that
     * stops without closing its connections first): the shutdown completes promptly, and every
     * queue pair, region and completion queue goes with it. Five hundred, not more, in the CI suite:
     * 2,000 shut down in 5.0-6.6 s in the VM (property {@code vsocket.softroce.openConnections}), but
     * in an hour when the build machine ran three times slower the same 2,000 took over 120 s twice
     * and once stopped the guest (a CI run killed by the VM's timeout), as 5,000 always do: the
     * emulated device, looping thousands of queue pairs' last messages back inside a two-CPU emulated
     * guest, holds a CPU in its softirq for over 20 s at a time (kernel soft-lockup and RCU stall
     * reports from rxe_requester/rxe_responder) and the guest stops making progress. The bound is the
     * emulator's: run alone in that slow hour, the same 2,000 shut down in 102 ms.
     */
    @Test
    void aGroupShutDownWithItsConnectionsOpenFreesThemPromptly() throws Exception {
        DeviceBaseline before = DeviceBaseline.take();
        int connections = Integer.getInteger("vsocket.softroce.openConnections", 500);
        EventLoopGroup own = new VSocketEventLoopGroup(2);
        long shutdownMillis;
        try {
            Channel server = Peers.vsocketServer(own, List.of(VSocketLink.RDMA), Peers.Echo.INSTANCE)
                    .childOption(VSocketChannelOption.RING_SIZE, 4096)
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            for (int i = 0; i < connections; i++) {
                Peers.Collector collector = new Peers.Collector(8);
                Channel client = Peers.vsocketClient(own, List.of(VSocketLink.RDMA), collector)
                        .option(VSocketChannelOption.RING_SIZE, 4096).connect(server.localAddress()).sync().channel();
                client.writeAndFlush(Unpooled.buffer(8).writeLong(i));
                if (i % 250 == 249) {
                    collector.done.get(60, TimeUnit.SECONDS);
                    System.err.println("PROGRESS open " + (i + 1));
                }
            }
        } finally {
            long t0 = System.nanoTime();
            assertTrue(own.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(120, TimeUnit.SECONDS),
                    "the group shut down within 120 s");
            shutdownMillis = (System.nanoTime() - t0) / 1_000_000;
        }
        System.err.println("PROGRESS shut down with " + connections + " connections open in " + shutdownMillis + " ms");
        before.assertRestored();
    }

    /** The device's resource counts before a test opens its own group, to compare with after it shut down. */
    private record DeviceBaseline(Map<String, Integer> counts) {
        static DeviceBaseline take() throws Exception {
            // What the verbs library keeps for the life of the process once used is not a leak: use it first.
            StreamIntegrityTest.echoIntact(group, VSocketLink.RDMA, new InetSocketAddress(ADDRESS, 0), 1, 1024);
            // Links that other tests closed linger until their end of output is acknowledged, at most
            // 10 s (VSocketLinks.RDMA_LINGER_MILLIS): the baseline is taken once they are all gone.
            Thread.sleep(10_500);
            // And until two looks agree: a staging ring between its region's release and its memory's,
            // a region the kernel lets go of late.
            return new DeviceBaseline(DeviceResources.untilTwoLooksAgree(DeviceBaseline::connectionCounts,
                    System.nanoTime() + TimeUnit.SECONDS.toNanos(10)));
        }

        /**
         * The device's counts less the regions that are no connection's own: the buffer pool's chunks
         * (registered for as long as the device is open, and never freed: a chunk a test needed adds
         * one, by design) and the staging rings the loops keep or have not freed yet (given back by
         * idle links, freed a period after the last holder went).
         */
        static Map<String, Integer> connectionCounts() throws Exception {
            int notConnections = RegisteredMemory.shared().chunkCount() + RdmaContext.stagingRingsOpen();
            Map<String, Integer> counts = new TreeMap<>(DeviceResources.now());
            counts.merge("mr", -notConnections, Integer::sum);
            // What this process still holds open: a region the device keeps although the process let
            // go of it is the kernel's late release; one the process still holds is a release that failed.
            counts.put("mr (process)", VerbsResource.openCount(MemoryRegion.class) - notConnections);
            counts.put("mw (process)", VerbsResource.openCount(MemoryWindow.class));
            return counts;
        }

        /** Every queue pair, region, completion queue, domain and shared receive queue is back. */
        void assertRestored() throws Exception {
            Map<String, Integer> after = connectionCounts();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!after.equals(counts) && System.nanoTime() < deadline) {
                Thread.sleep(200); // releases the kernel finishes late
                after = connectionCounts();
            }
            for (String kind : List.of("qp", "mr", "cq", "pd", "srq", "mr (process)", "mw (process)")) {
                assertEquals(counts.getOrDefault(kind, 0), after.getOrDefault(kind, 0), kind
                        + " count after shutdown: " + counts + " -> " + after);
            }
        }
    }

    /** How long the slowest loop of {@code group} took to run a task submitted now. */
    private static long slowestLoopTurnMillis(EventLoopGroup group) throws Exception {
        long slowest = 0;
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            long t = System.nanoTime();
            loop.submit(() -> { }).get(60, TimeUnit.SECONDS);
            slowest = Math.max(slowest, (System.nanoTime() - t) / 1_000_000);
        }
        return slowest;
    }

    /** The memory this process has pinned for the device ({@code VmPin}: registered regions). */
    private static long pinnedBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmPin:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmPin in /proc/self/status");
    }

    /** Pinned memory other than the registered buffer pool's chunks: the links' rings. */
    private static long pinnedOutsideThePool() throws IOException {
        return pinnedBytes() - (long) RegisteredMemory.shared().chunkCount() * RegisteredMemory.CHUNK_SIZE;
    }
}
