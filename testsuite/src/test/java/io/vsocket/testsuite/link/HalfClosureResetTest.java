package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A read that fails (the peer reset the connection) ends the input as NIO's and epoll's read loops
 * end it: with {@code ALLOW_HALF_CLOSURE} the application sees the error and then a
 * {@link ChannelInputShutdownEvent}, and its channel stays open for its own output (which the
 * application closes when it likes); without, the channel closes. It used to close at once either
 * way, so a handler that ends its side on the input-shutdown event never ran (a fault probe).
 */
@Timeout(60)
class HalfClosureResetTest {
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aResetReadByAHalfClosingClientShutsItsInputAndLeavesItOpen(VSocketLink link) throws Exception {
        // Auto-read off too: epoll's hang-up read reports the reset whether the application reads or not
        // (over shm the events after the error were missing there).
        for (boolean autoRead : new boolean[] {true, false}) {
            Connection c = connect(link, true, autoRead);
            assertInstanceOf(IOException.class, c.events.poll(5, TimeUnit.SECONDS), "first the reset");
            assertEquals(ChannelInputShutdownEvent.INSTANCE, c.events.poll(5, TimeUnit.SECONDS), "then the input's end");
            // As epoll: then that all was read; the channel stays open for its output.
            assertEquals(io.netty.channel.socket.ChannelInputShutdownReadComplete.INSTANCE, c.events.poll(5, TimeUnit.SECONDS),
                    "auto-read " + autoRead);
            assertNull(c.events.poll(300, TimeUnit.MILLISECONDS), "nothing more (no close)");
            assertTrue(c.client.isOpen(), "the channel stays open");
            c.client.close().sync();
            assertEquals("inactive", c.events.poll(5, TimeUnit.SECONDS), "closed by its application");
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aResetReadByAClientThatDoesNotHalfCloseClosesIt(VSocketLink link) throws Exception {
        for (boolean autoRead : new boolean[] {true, false}) {
            Connection c = connect(link, false, autoRead);
            assertInstanceOf(IOException.class, c.events.poll(5, TimeUnit.SECONDS), "first the reset");
            assertEquals("inactive", c.events.poll(5, TimeUnit.SECONDS), "then the close, auto-read " + autoRead);
        }
    }

    /**
     * A client that does not read, whose peer sent bytes and then reset the connection, and whose
     * handler shuts the input (without half-closure) as the first bytes come: its channel does not wait
     * for ever — a write fails and the channel closes (over shm the writes waited for the reset's report,
     * which the shut input's read never reached).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aHandlerThatShutsTheInputInTheResetsReadStillEndsTheChannel(VSocketLink link) throws Exception {
        Channel server = new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                .childOption(VSocketChannelOption.LINKS, List.of(link))
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[4096])).addListener(f ->
                                ctx.executor().schedule(() -> {
                                    ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                                    ctx.close();
                                }, 200, TimeUnit.MILLISECONDS));
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            BlockingQueue<Object> events = new LinkedBlockingQueue<>();
            Channel client = new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                    .option(VSocketChannelOption.LINKS, List.of(link))
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            events.add(((io.netty.buffer.ByteBuf) msg).readableBytes());
                            io.netty.util.ReferenceCountUtil.release(msg);
                            ((io.netty.channel.socket.DuplexChannel) ctx.channel()).shutdownInput();
                        }

                        @Override
                        public void channelInactive(ChannelHandlerContext ctx) {
                            events.add("inactive");
                        }
                    }).connect(server.localAddress()).sync().channel();
            assertTrue(events.poll(5, TimeUnit.SECONDS) instanceof Integer, "the peer's bytes read before the reset");
            Thread.sleep(500); // the reset has come
            io.netty.channel.ChannelFuture write = client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[100]));
            assertTrue(write.await(5, TimeUnit.SECONDS), "the write completes");
            assertTrue(!write.isSuccess(), "and fails: the peer reset the connection");
            assertTrue(client.closeFuture().await(5, TimeUnit.SECONDS), "the channel closes");
        } finally {
            server.close().sync();
        }
    }

    /**
     * A connection on {@code link} whose client shuts its output and whose server answers by closing abortively
     * ({@code SO_LINGER} 0): what the client's pipeline saw, in order ("inactive" for its close).
     */
    private record Connection(Channel client, BlockingQueue<Object> events) {
    }

    private static Connection connect(VSocketLink link, boolean halfClosure, boolean autoRead) throws Exception {
        BlockingQueue<Object> events = new LinkedBlockingQueue<>();
        Channel server = new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                .childOption(VSocketChannelOption.LINKS, List.of(link))
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                        if (evt == ChannelInputShutdownEvent.INSTANCE) {
                            ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                            ctx.close();
                        }
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        Channel client = new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                .option(VSocketChannelOption.LINKS, List.of(link))
                .option(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure)
                .option(ChannelOption.AUTO_READ, autoRead)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        events.add(cause);
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                        if (!(evt instanceof io.netty.channel.socket.ChannelOutputShutdownEvent)) {
                            events.add(evt); // (its own output's end is not what is looked at)
                        }
                    }

                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        events.add("inactive");
                    }
                }).connect(server.localAddress()).sync().channel();
        try {
            ((VSocketSocketChannel) client).shutdownOutput().sync();
            return new Connection(client, events);
        } finally {
            server.close();
        }
    }
}
