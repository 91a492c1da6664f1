package io.vsocket.channel;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.SimpleChannelInboundHandler;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A loop's turns visit only the shm links with work: links idle for a while park and leave them,
 * and come back when their peer writes (the doorbell), when their channel writes, or when it wants
 * to read again — with every byte delivered either way.
 */
@Timeout(60)
class ShmLinkTurnsTest {
    private static final int CONNECTIONS = 100;

    @Test
    void idleLinksLeaveTheLoopsTurnsAndComeBackForTheirBytes() throws Exception {
        VSocketEventLoopGroup group = new VSocketEventLoopGroup(1);
        try {
            Channel server = new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                    .childOption(VSocketChannelOption.LINKS, List.of(VSocketLink.SHM))
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    ctx.writeAndFlush(msg); // echo
                                }
                            });
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            LinkedBlockingQueue<String> echoes = new LinkedBlockingQueue<>();
            List<VSocketSocketChannel> clients = new ArrayList<>();
            for (int i = 0; i < CONNECTIONS; i++) {
                clients.add((VSocketSocketChannel) new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                        .option(VSocketChannelOption.LINKS, List.of(VSocketLink.SHM))
                        .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                                echoes.add(msg.toString(java.nio.charset.StandardCharsets.US_ASCII));
                            }
                        })
                        .connect(server.localAddress()).sync().channel());
            }
            for (VSocketSocketChannel c : clients) {
                assertEquals(VSocketLink.SHM, c.link());
            }
            EventLoop loop = group.next();
            VSocketSocketChannel first = clients.get(0);
            int all = 2 * CONNECTIONS; // both ends of each connection on the one loop

            int idle = settledPollers(first);
            assertTrue(idle < all / 10, "idle shm links left the loop's turns: " + idle + " of " + all + " still in");

            // The peer writes to a parked link: the doorbell brings it back, and the echo comes.
            for (int round = 0; round < 3; round++) {
                VSocketSocketChannel c = clients.get(round * 37 % CONNECTIONS);
                String text = "round " + round;
                c.writeAndFlush(Unpooled.copiedBuffer(text, java.nio.charset.StandardCharsets.US_ASCII)).sync();
                String echo = echoes.poll(10, TimeUnit.SECONDS);
                assertNotNull(echo, "no echo through links that had parked (round " + round + ")");
                assertEquals(text, echo);
                assertTrue(settledPollers(first) < all / 10, "links left the turns again after the round");
            }

            // Auto-read off on a parked link, bytes arrive, then read(): the wish to read brings it back.
            VSocketSocketChannel lazy = clients.get(5);
            lazy.config().setAutoRead(false);
            lazy.writeAndFlush(Unpooled.copiedBuffer("lazy", java.nio.charset.StandardCharsets.US_ASCII)).sync();
            Thread.sleep(50);
            assertEquals(null, echoes.poll(), "nothing read before read()");
            settledPollers(first);
            lazy.read();
            assertEquals("lazy", echoes.poll(10, TimeUnit.SECONDS));
            assertTrue(loop.submit(() -> true).get());

            for (Channel c : clients) {
                c.close().sync();
            }
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** The loop's poller count once its links had time to go idle (each turn lets idle ones go). */
    private static int settledPollers(VSocketSocketChannel onLoop) throws Exception {
        int count = Integer.MAX_VALUE;
        for (int i = 0; i < 60; i++) {
            Thread.sleep(2);
            count = onLoop.eventLoop().submit(() -> onLoop.ioHandler().pollerCount()).get(5, TimeUnit.SECONDS);
        }
        return count;
    }
}
