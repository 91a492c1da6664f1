package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An accepted channel's pipeline meets an active channel, as an accepted epoll channel's does: its
 * registration (handlerAdded, channelRegistered, channelActive) completes once the hello has picked
 * the link. Handlers that write in {@code handlerAdded} and those that wait for {@code channelActive}
 * then write in the order they do on epoll. Netty's HTTP/2 server with a larger initial window is such
 * a pipeline (its connection window update is written in {@code handlerAdded}, its preface — SETTINGS —
 * there too when the channel is active, else in {@code channelActive}): with the pipeline initialised
 * on an inactive channel, the update went first and every client refused the connection ("First
 * received frame was not SETTINGS").
 */
class AcceptedChannelTest {
    private static EventLoopGroup group;

    @BeforeAll
    static void startGroup() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stopGroup() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    static List<List<VSocketLink>> links() {
        return List.of(List.of(VSocketLink.SHM, VSocketLink.TCP), List.of(VSocketLink.SHM), List.of(VSocketLink.TCP));
    }

    @ParameterizedTest
    @MethodSource("links")
    void anHttp2ServerWithALargerInitialWindowAnswers(List<VSocketLink> links) throws Exception {
        CompletableFuture<Boolean> activeWhenInitialised = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(group, links, new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                activeWhenInitialised.complete(ch.isActive());
                ch.pipeline().addLast(Http2FrameCodecBuilder.forServer()
                                .initialSettings(Http2Settings.defaultSettings().initialWindowSize(1 << 20)).build(),
                        new Http2MultiplexHandler(new Answer()));
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            CompletableFuture<Throwable> clientError = new CompletableFuture<>();
            Channel client = Peers.vsocketClient(group, links, new ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()),
                            new ChannelInboundHandlerAdapter() {
                                @Override
                                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                    clientError.complete(cause);
                                }
                            });
                }
            }).connect(server.localAddress()).sync().channel();
            try {
                CompletableFuture<String> body = new CompletableFuture<>();
                Http2StreamChannel stream = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter() {
                    private final StringBuilder text = new StringBuilder();

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        if (msg instanceof Http2DataFrame data) {
                            text.append(data.content().toString(StandardCharsets.US_ASCII));
                            if (data.isEndStream()) {
                                body.complete(text.toString());
                            }
                        }
                        ReferenceCountUtil.release(msg);
                    }
                }).open().sync().getNow();
                stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("GET").path("/")
                        .scheme("http").authority("vsocket"), true));
                assertEquals("answered", body.get(10, TimeUnit.SECONDS), "client error: " + clientError.getNow(null));
                assertTrue(activeWhenInitialised.get(), "the accepted channel is active when initialised, as on epoll");
            } finally {
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * Connections their peers reset while they waited to be accepted are accepted as on epoll, where the
     * address comes with accept(2): the channel meets the reset on its first read. (The child's
     * getpeername failed on them, the failure went to the server's pipeline, and Netty's acceptor stopped
     * accepting for a second each time: helper-47's probe, 20 such connections held off an echo 20 s.)
     */
    @ParameterizedTest
    @MethodSource("links")
    void connectionsResetInTheAcceptQueueHoldUpNoOther(List<VSocketLink> links) throws Exception {
        AtomicInteger serverErrors = new AtomicInteger();
        Channel server = Peers.vsocketServer(group, links, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.writeAndFlush(msg);
            }

            @Override
            public boolean isSharable() {
                return true;
            }
        }).handler(new ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                serverErrors.incrementAndGet();
                ctx.fireExceptionCaught(cause);
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            InetSocketAddress address = (InetSocketAddress) server.localAddress();
            // Hold the server's loop while five peers connect and reset, so that they wait in the queue.
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch reset = new CountDownLatch(1);
            server.eventLoop().execute(() -> {
                held.countDown();
                try {
                    reset.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(held.await(10, TimeUnit.SECONDS));
            try {
                for (int i = 0; i < 5; i++) {
                    try (Socket s = new Socket()) {
                        s.setSoLinger(true, 0);
                        s.connect(address);
                    }
                }
            } finally {
                reset.countDown();
            }
            CompletableFuture<Boolean> echoed = new CompletableFuture<>();
            Channel client = Peers.vsocketClient(group, links, new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    ReferenceCountUtil.release(msg);
                    echoed.complete(true);
                }
            }).connect(address).sync().channel();
            try {
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {42}));
                assertTrue(echoed.get(20, TimeUnit.SECONDS), "the echo behind the reset connections");
                assertEquals(0, serverErrors.get(), "errors in the server's pipeline (epoll's has none)");
            } finally {
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }

    /** Answers every request with "answered". */
    @ChannelHandler.Sharable
    private static final class Answer extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame headers && headers.isEndStream()) {
                ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("answered", StandardCharsets.US_ASCII), true));
            }
            ReferenceCountUtil.release(msg);
        }
    }
}
