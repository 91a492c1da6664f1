package io.vsocket.testsuite.link;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A close that {@code SO_LINGER} holds — bytes still unsent to a peer that does not read — runs off
 * the channel's loop, as on epoll: the loop's other channels and tasks go on meanwhile, and the close
 * completes once the socket's close returns (the peer read the rest, or the linger time ran out). It
 * used to block the loop for the whole linger time (a probe: a task queued behind it waited 2 s).
 */
class LingerCloseTest {
    private static EventLoopGroup serverGroup;
    private static EventLoopGroup clientGroup;

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

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aLingeringCloseLeavesTheLoopFree(VSocketLink link) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        CompletableFuture<Long> read = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(serverGroup, List.of(link), new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
                    long bytes;

                    @Override
                    public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                        bytes += ((io.netty.buffer.ByteBuf) msg).readableBytes();
                        io.netty.util.ReferenceCountUtil.release(msg);
                    }

                    @Override
                    public void channelInactive(io.netty.channel.ChannelHandlerContext ctx) {
                        read.complete(bytes);
                    }
                });
                accepted.complete(ch);
            }
        }).childOption(ChannelOption.AUTO_READ, false).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            Peers.Collector collector = new Peers.Collector(Long.MAX_VALUE);
            Channel client = Peers.vsocketClient(clientGroup, List.of(link), collector)
                    .option(ChannelOption.SO_LINGER, 30)
                    .connect(server.localAddress()).sync().channel();
            Channel peer = accepted.get(10, TimeUnit.SECONDS);
            assertEquals(link, Peers.awaitLink(client, link));
            // Far more than the peer's buffers take while it does not read: the rest stays unsent.
            int size = 16 << 20;
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[size]));
            Thread.sleep(200);
            ChannelFuture closed = client.close();
            // The loop is free at once: a task behind the close runs long before the 30 s linger ends
            // (the close blocked it for all of that before).
            client.eventLoop().submit(() -> { }).get(10, TimeUnit.SECONDS);
            // (isOpen() may still say true: the socket is open until its close returns, as on epoll.)
            // The peer reads what reached it (what the kernel's buffers, or the ring, held; the rest
            // of the outbound buffer failed with the close, as on epoll), then the end — on shm as
            // soon as the end is in its ring, reading or not, as on a hang-up — and the lingering
            // close completes.
            peer.config().setAutoRead(true);
            long got = read.get(20, TimeUnit.SECONDS);
            assertTrue(got > 0 && got < size, "part of it, then the end: " + got);
            assertTrue(closed.await(20, TimeUnit.SECONDS) && closed.isSuccess(), "the lingering close completed");
        } finally {
            server.close().sync();
        }
    }
}
