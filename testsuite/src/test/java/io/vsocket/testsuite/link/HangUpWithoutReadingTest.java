package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A channel whose application does not read (auto-read off, no {@code read()}) still learns that its
 * peer closed, as on epoll, whose read on a hang-up goes on to the end of stream: what the peer sent
 * last is handed over and the channel goes inactive. Over tcp the hang-up was not even watched, and
 * the channel stayed active for ever; over shm the bytes came but the end did not (a probe: 10 of 10
 * each, against epoll's 10 of 10 inactive).
 */
class HangUpWithoutReadingTest {
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
    void aClientThatDoesNotReadGetsThePeersLastBytesAndItsEnd(VSocketLink link) throws Exception {
        for (String last : new String[] {"", "bye, then the end"}) {
            Channel server = Peers.vsocketServer(serverGroup, List.of(link), new ChannelInboundHandlerAdapter() {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    // After the client settled on its link (shm moves a millisecond in).
                    ctx.executor().schedule(() -> ctx.writeAndFlush(Unpooled.copiedBuffer(last, StandardCharsets.US_ASCII))
                            .addListener(ChannelFutureListener.CLOSE), 100, TimeUnit.MILLISECONDS);
                }

                @Override
                public boolean isSharable() {
                    return true;
                }
            }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            try {
                StringBuilder got = new StringBuilder();
                CompletableFuture<String> inactive = new CompletableFuture<>();
                Channel client = Peers.vsocketClient(clientGroup, List.of(link), new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        got.append(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
                        ((ByteBuf) msg).release();
                    }

                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        inactive.complete(got.toString());
                    }
                }).option(ChannelOption.AUTO_READ, false).connect(server.localAddress()).sync().channel();
                assertEquals(link, Peers.linkOf(client));
                assertEquals(last, inactive.get(10, TimeUnit.SECONDS), "the peer's last bytes, then the end");
            } finally {
                server.close().sync();
            }
        }
    }

    /**
     * An application that shuts its own input, half-closure allowed, is told that all was read
     * ({@link ChannelInputShutdownReadComplete}), as epoll tells it a turn later (its hang-up watch sees
     * the shut socket's end), reading or not; without half-closure, told nothing, as on epoll. vsocket
     * fired nothing (a probe, 10 of 10, against epoll's 10 of 10).
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void anApplicationThatShutsItsInputIsToldAllWasRead(VSocketLink link) throws Exception {
        Channel server = Peers.vsocketServer(serverGroup, List.of(link), new ChannelInboundHandlerAdapter() {
            @Override
            public boolean isSharable() {
                return true;
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            for (boolean halfClosure : new boolean[] {true, false}) {
                for (boolean autoRead : new boolean[] {true, false}) {
                    List<Object> events = new CopyOnWriteArrayList<>();
                    Channel client = Peers.vsocketClient(clientGroup, List.of(link), new ChannelInboundHandlerAdapter() {
                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            events.add(evt);
                        }
                    }).option(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure).option(ChannelOption.AUTO_READ, autoRead)
                            .connect(server.localAddress()).sync().channel();
                    try {
                        assertEquals(link, Peers.linkOf(client));
                        ((DuplexChannel) client).shutdownInput().sync();
                        // A turn of the loop later: what it fires comes before this task.
                        client.eventLoop().submit(() -> { }).sync();
                        client.eventLoop().submit(() -> { }).sync();
                        String what = "half-closure " + halfClosure + ", auto-read " + autoRead;
                        assertEquals(halfClosure ? List.of(ChannelInputShutdownReadComplete.INSTANCE) : List.of(),
                                events, what);
                        assertTrue(client.isOpen(), what);
                    } finally {
                        client.close().sync();
                    }
                }
            }
        } finally {
            server.close().sync();
        }
    }
}
