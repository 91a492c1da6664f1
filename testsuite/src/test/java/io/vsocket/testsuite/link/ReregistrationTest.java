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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel moved to another loop — {@code deregister()}, then another loop's {@code register()} — as
 * Netty's NIO and epoll transports allow: on the tcp and shm links (and the default links, once the
 * connection moved onto shm) it reads nothing while it belongs to no loop, then every byte on its new
 * loop's thread, and it closes there as any channel does, also once the loop it left is shut down.
 * Before the shm link followed its channel, the link went on reading on the old loop (bytes delivered
 * to a deregistered channel, on the wrong thread), its close on the new loop failed, and once the old
 * loop was gone the channel silently received nothing. What cannot leave its loop (an rdma link's
 * queue pair, a connect, hello or move onto shm under way) keeps the channel to it: another loop's
 * registration fails, its own takes the channel back ({@link #move} tries again as an application
 * would). A datagram channel leaves its shm and UD carriers behind and opens them again on its new loop.
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
    }

    /**
     * Moves {@code channel} to {@code to}. A connection whose move onto shm is not over yet (each side's
     * end of tcp announced and read) is kept to its loop: it goes back there and tries again, as an
     * application would.
     */
    private static void move(Channel channel, EventLoop to) throws Exception {
        for (int attempt = 0; attempt < 400; attempt++) {
            EventLoop from = channel.eventLoop();
            channel.deregister().sync();
            ChannelFuture moved = to.register(channel).await();
            if (moved.isSuccess()) {
                return;
            }
            assertTrue(moved.cause() instanceof IllegalStateException, String.valueOf(moved.cause()));
            from.register(channel).sync();
            Thread.sleep(5);
        }
        throw new AssertionError(channel + " never left its loop");
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
            EventLoop first = p.client().eventLoop();
            EventLoop second = another(group, first, p.accepted().eventLoop());
            move(p.client(), second);
            // Settled on its link: now it leaves at once, and reads nothing while it belongs to no loop.
            p.client().deregister().sync();
            p.accepted().writeAndFlush(Unpooled.wrappedBuffer(new byte[1000])).sync();
            Thread.sleep(100);
            assertEquals(0, atClient.bytes.get(), "read while the channel belonged to no loop");

            EventLoop next = another(group, second, p.accepted().eventLoop());
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
            EventLoop next = another(group, p.accepted().eventLoop(), p.client().eventLoop());
            move(p.accepted(), next);
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
            move(p.client(), second.next());
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

    /**
     * A bound datagram channel leaves its shm rendezvous and links (and UD) with the loop it leaves,
     * goes on over UDP meanwhile, and opens them again on its new loop: a sender's datagrams reach it
     * there, over shm again.
     */
    @Test
    void aBoundDatagramChannelMovesAndTakesShmAgainThere() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(3);
        try {
            AtomicLong received = new AtomicLong();
            Set<Thread> threads = ConcurrentHashMap.newKeySet();
            Channel receiver = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            threads.add(Thread.currentThread());
                            received.incrementAndGet();
                            ((DatagramPacket) msg).release();
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            EventLoop next = another(group, receiver.eventLoop());
            receiver.deregister().sync();
            next.register(receiver).sync();
            VSocketDatagramChannel moved = (VSocketDatagramChannel) receiver;
            Channel sender = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            int sent = 0;
            while (next.submit(moved::shmDatagramsReceived).get() == 0 && System.nanoTime() < deadline) {
                sender.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(new byte[64]),
                        (InetSocketAddress) receiver.localAddress())).sync();
                sent++;
                Thread.sleep(5);
            }
            assertTrue(next.submit(moved::shmDatagramsReceived).get() > 0, "over shm again after " + sent + " datagrams");
            assertEquals(Set.of(threadOf(next)), threads, "read on its new loop only");
            sender.close().sync();
            receiver.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }
}
