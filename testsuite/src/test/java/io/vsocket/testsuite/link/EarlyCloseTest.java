package io.vsocket.testsuite.link;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A client that writes and closes as soon as its connect completes — a one-shot upload, a request
 * sent without waiting for its answer — at the default links on one host, where its connection is
 * moving onto shm in that very millisecond: the server gets every byte and a clean end, as over
 * epoll. The server's offer, which may lie unread in the client's socket or arrive after its close,
 * used to make the client's kernel reset the connection and drop what it had not sent yet (10 of 30
 * such connections, in a probe).
 */
@Timeout(120)
class EarlyCloseTest {
    private static final int SIZE = 256 * 1024;
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

    @Test
    void aClientThatWritesAndClosesAtOnceDeliversEveryByteAndACleanEnd() throws Exception {
        byte[] payload = new byte[SIZE];
        new java.util.Random(7).nextBytes(payload);
        CRC32 crc = new CRC32();
        crc.update(payload);
        for (int round = 0; round < 40; round++) {
            CompletableFuture<Peers.Collector> accepted = new CompletableFuture<>();
            Channel server = Peers.vsocketServer(serverGroup, List.of(VSocketLink.SHM, VSocketLink.TCP),
                    new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            Peers.Collector c = new Peers.Collector(SIZE);
                            ch.pipeline().addLast(c);
                            accepted.complete(c);
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            try {
                CompletableFuture<Throwable> written = new CompletableFuture<>();
                Peers.vsocketClient(clientGroup, List.of(VSocketLink.SHM, VSocketLink.TCP), new io.netty.channel.ChannelInboundHandlerAdapter())
                        .connect(server.localAddress()).addListener((ChannelFuture f) -> {
                            if (!f.isSuccess()) {
                                written.complete(f.cause());
                                return;
                            }
                            f.channel().writeAndFlush(Unpooled.wrappedBuffer(payload))
                                    .addListener((ChannelFutureListener) w -> written.complete(w.cause()));
                            f.channel().close();
                        });
                Peers.Collector collector = accepted.get(10, TimeUnit.SECONDS);
                collector.inactive.get(10, TimeUnit.SECONDS);
                assertNull(written.get(10, TimeUnit.SECONDS), "round " + round + ": the client's write");
                assertNull(collector.error.getNow(null), "round " + round + ": the server's end came with an error");
                assertEquals(SIZE, collector.received(), "round " + round + ": bytes the server read");
                assertEquals(crc.getValue(), (long) collector.done.get(1, TimeUnit.SECONDS), "round " + round + ": their CRC");
            } finally {
                server.close().sync();
            }
        }
    }
}
