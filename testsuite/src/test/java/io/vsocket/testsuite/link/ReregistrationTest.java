package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DatagramPacket;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel moved to another loop — {@code deregister()}, then another loop's {@code register()} — as
 * Netty's NIO and epoll transports allow: on the tcp and shm links (and the default links, once the
 * connection moved onto shm) it reads nothing while it belongs to no loop, then every byte on its new
 * loop's thread, and it closes there as any channel does, also once the loop it left is shut down.
 * Before the shm link followed its channel, the link went on reading on the old loop (bytes delivered
 * to a deregistered channel, on the wrong thread), its close on the new loop failed, and once the old
 * loop was gone the channel silently received nothing. What cannot leave its loop (a bound datagram
 * channel's paths, an rdma link's queue pair, a hello under way) keeps the channel to it: another
 * loop's registration fails, its own takes the channel back.
 */
class ReregistrationTest {

    /** The links a connection is made with. */
    enum Links {
        DEFAULT(null, VSocketLink.SHM), SHM(List.of(VSocketLink.SHM), VSocketLink.SHM), TCP(List.of(VSocketLink.TCP), VSocketLink.TCP);

        final List<VSocketLink> links;
        final VSocketLink settled;

        Links(List<VSocketLink> links, VSocketLink settled) {
            this.links = links;
            this.settled = settled;
        }
    }

    /** Counts what it reads, and on which threads, and whether the channel was registered then. */
    static final class Reads extends ChannelInboundHandlerAdapter {
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong whileDeregistered = new AtomicLong();
        final Set<Thread> threads = ConcurrentHashMap.newKeySet();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            if (!ctx.channel().isRegistered()) {
                whileDeregistered.addAndGet(buf.readableBytes());
            }
            threads.add(Thread.currentThread());
            bytes.addAndGet(buf.readableBytes());
            buf.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            errors.add(cause);
        }

        void await(long n) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (bytes.get() < n && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertEquals(n, bytes.get(), "bytes read");
        }
    }

    private record Pair(Channel server, Channel client, Channel accepted) {
    }

    private static Pair connect(EventLoopGroup serverGroup, EventLoopGroup clientGroup, Links links, Reads atServer,
                                Reads atClient) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        ServerBootstrap sb = new ServerBootstrap().group(serverGroup).channel(VSocketServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(atServer);
                        accepted.complete(ch);
                    }
                });
        Bootstrap cb = new Bootstrap().group(clientGroup).channel(VSocketSocketChannel.class).handler(atClient);
        if (links.links != null) {
            sb.childOption(VSocketChannelOption.LINKS, links.links);
            cb.option(VSocketChannelOption.LINKS, links.links);
        }
        Channel server = sb.bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = cb.connect(server.localAddress()).sync().channel();
        Channel child = accepted.get(10, TimeUnit.SECONDS);
        // Moved once the connection is on its link for good (the default links: once on shm).
        awaitLink((VSocketSocketChannel) client, links.settled);
        awaitLink((VSocketSocketChannel) child, links.settled);
        return new Pair(server, client, child);
    }

    private static void awaitLink(VSocketSocketChannel channel, VSocketLink link) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (channel.link() != link && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(link, channel.link());
        Thread.sleep(20); // the move's last steps (each side's end of tcp announced) done
    }

    private static EventLoop another(EventLoopGroup group, EventLoop... not) {
        for (int i = 0; i < 64; i++) {
            EventLoop next = group.next();
            if (!List.of(not).contains(next)) {
                return next;
            }
        }
        throw new AssertionError("no other loop");
    }

    private static Thread threadOf(EventLoop loop) throws Exception {
        return loop.submit(Thread::currentThread).get(5, TimeUnit.SECONDS);
    }

    @ParameterizedTest
    @EnumSource(Links.class)
    void aClientMovedToAnotherLoopReadsNothingMeanwhileThenEverythingThere(Links links) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(3);
        Reads atServer = new Reads();
        Reads atClient = new Reads();
        try {
            Pair p = connect(group, group, links, atServer, atClient);
            EventLoop old = p.client().eventLoop();
            p.client().deregister().sync();
            p.accepted().writeAndFlush(Unpooled.wrappedBuffer(new byte[1000])).sync();
            Thread.sleep(100);
            assertEquals(0, atClient.bytes.get(), "read while the channel belonged to no loop");

            EventLoop next = another(group, old, p.accepted().eventLoop());
            next.register(p.client()).sync();
            atClient.await(1000);
            for (int i = 0; i < 200; i++) {
                p.accepted().writeAndFlush(Unpooled.wrappedBuffer(new byte[300]));
                p.client().writeAndFlush(Unpooled.wrappedBuffer(new byte[300]));
            }
            atClient.await(61_000);
            atServer.await(60_000);
            assertEquals(Set.of(threadOf(next)), atClient.threads, "the client's reads ran on its new loop only");
            assertEquals(0, atClient.whileDeregistered.get());
            assertEquals(links.settled, ((VSocketSocketChannel) p.client()).link());

            assertTrue(p.client().close().await(5, TimeUnit.SECONDS) && p.client().closeFuture().isSuccess());
            assertTrue(p.accepted().closeFuture().await(5, TimeUnit.SECONDS), "the peer saw the close");
            assertEquals(List.of(), atClient.errors);
            assertEquals(List.of(), atServer.errors);
            p.server().close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    @ParameterizedTest
    @EnumSource(Links.class)
    void anAcceptedChannelMovedToAnotherLoopSeesItsPeersBytesAndEnd(Links links) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(3);
        Reads atServer = new Reads();
        Reads atClient = new Reads();
        try {
            Pair p = connect(group, group, links, atServer, atClient);
            EventLoop old = p.accepted().eventLoop();
            p.accepted().deregister().sync();
            EventLoop next = another(group, old, p.client().eventLoop());
            next.register(p.accepted()).sync();
            for (int i = 0; i < 100; i++) {
                p.client().writeAndFlush(Unpooled.wrappedBuffer(new byte[1000]));
            }
            atServer.await(100_000);
            assertEquals(Set.of(threadOf(next)), atServer.threads);
            p.client().close().sync();
            assertTrue(p.accepted().closeFuture().await(5, TimeUnit.SECONDS), "the moved channel saw its peer's end");
            assertEquals(List.of(), atServer.errors);
            p.server().close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    @ParameterizedTest
    @EnumSource(Links.class)
    void aChannelMovedToAnotherGroupOutlivesTheGroupItLeft(Links links) throws Exception {
        EventLoopGroup serverGroup = new VSocketEventLoopGroup(1);
        EventLoopGroup first = new VSocketEventLoopGroup(1);
        EventLoopGroup second = new VSocketEventLoopGroup(1);
        Reads atServer = new Reads();
        Reads atClient = new Reads();
        try {
            Pair p = connect(serverGroup, first, links, atServer, atClient);
            p.client().deregister().sync();
            second.next().register(p.client()).sync();
            first.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            assertTrue(p.client().isOpen());
            for (int i = 0; i < 20; i++) {
                p.accepted().writeAndFlush(Unpooled.wrappedBuffer(new byte[1000]));
                p.client().writeAndFlush(Unpooled.wrappedBuffer(new byte[1000]));
            }
            atClient.await(20_000);
            atServer.await(20_000);
            assertTrue(p.client().isOpen());
            p.client().close().sync();
            assertTrue(p.accepted().closeFuture().await(5, TimeUnit.SECONDS));
            assertEquals(List.of(), atClient.errors);
        } finally {
            serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            first.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
            second.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aBoundDatagramChannelStaysWithItsLoop() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        try {
            CompletableFuture<String> got = new CompletableFuture<>();
            Channel receiver = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            DatagramPacket packet = (DatagramPacket) msg;
                            got.complete(packet.content().toString(java.nio.charset.StandardCharsets.US_ASCII)
                                    + (ctx.channel().eventLoop().inEventLoop() ? "" : " (off its loop)"));
                            packet.release();
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            EventLoop own = receiver.eventLoop();
            receiver.deregister().sync();
            ChannelFuture elsewhere = another(group, own).register(receiver).await();
            assertFalse(elsewhere.isSuccess(), "its shm rendezvous and links are its loop's");
            assertTrue(elsewhere.cause() instanceof IllegalStateException, String.valueOf(elsewhere.cause()));
            assertTrue(receiver.isOpen());
            own.register(receiver).sync();
            Channel sender = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            sender.writeAndFlush(new DatagramPacket(Unpooled.copiedBuffer("back", java.nio.charset.StandardCharsets.US_ASCII),
                    (InetSocketAddress) receiver.localAddress())).sync();
            assertEquals("back", got.get(10, TimeUnit.SECONDS));
            sender.close().sync();
            receiver.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
