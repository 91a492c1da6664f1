package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RDMA device itself goes away mid-stream ({@code rdma link delete rxe0}, what unloading the
 * driver or a removed adapter does): the connection goes on over its TCP connection with nothing
 * lost, and the device's removal is not held up by the process. Runs alone (tag
 * {@code softroce-removal}, its own VM boot): the device is gone for the rest of the process.
 */
@Tag("softroce-removal")
@Timeout(300)
class RdmaDeviceRemovalTest {
    private static final long BYTES = 4L << 20;

    @Test
    void bothStreamsArriveWholeWhenTheDeviceIsRemovedMidStream() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Peers.Collector fromClient = new Peers.Collector(BYTES);
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(fromClient, new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                accepted.complete(ctx.channel());
                                ctx.fireChannelActive();
                            }
                        });
                    }
                })
                .childOption(VSocketChannelOption.RING_SIZE, 16384)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(new InetSocketAddress(RdmaChannelTest.ADDRESS, 0)).sync().channel();
        try {
            Peers.Collector fromServer = new Peers.Collector(BYTES);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), fromServer)
                    .option(VSocketChannelOption.RING_SIZE, 16384)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .connect(server.localAddress()).sync().channel();
            Channel serverChild = accepted.get(30, TimeUnit.SECONDS);
            assertEquals(VSocketLink.RDMA, Peers.linkOf(client));

            Thread clientWriter = RdmaFailoverTest.writer(client, 1, "client");
            Thread serverWriter = RdmaFailoverTest.writer(serverChild, 2, "server");
            RdmaFailoverTest.awaitReceived(fromClient, BYTES / 4);
            RdmaFailoverTest.awaitReceived(fromServer, BYTES / 4);
            long t0 = System.nanoTime();
            Process delete = new ProcessBuilder("rdma", "link", "delete", "rxe0").redirectErrorStream(true).start();
            boolean deleted = delete.waitFor(60, TimeUnit.SECONDS);
            String out = deleted ? new String(delete.getInputStream().readAllBytes(), StandardCharsets.UTF_8) : "";
            System.err.printf("PROGRESS rdma link delete: %s after %d ms %s%n", deleted ? "exit " + delete.exitValue()
                    : "still running", (System.nanoTime() - t0) / 1_000_000, out);
            assertEquals(Peers.streamCrc(1, BYTES), fromClient.done.get(60, TimeUnit.SECONDS), "the client's stream");
            assertEquals(Peers.streamCrc(2, BYTES), fromServer.done.get(60, TimeUnit.SECONDS), "the server's stream");
            System.err.printf("PROGRESS both streams whole %d ms after the delete began%n", (System.nanoTime() - t0) / 1_000_000);
            clientWriter.join(30_000);
            serverWriter.join(30_000);
            for (Channel ch : List.of(client, serverChild)) {
                assertEquals(VSocketLink.TCP, Peers.linkOf(ch), ch + " runs on tcp now");
                assertEquals(VSocketLink.RDMA, ((VSocketSocketChannel) ch).failedOverFrom(), ch + " came from rdma");
            }
            if (!deleted) {
                assertTrue(delete.waitFor(60, TimeUnit.SECONDS), "the device's removal finished");
            }
            client.close().sync();
        } finally {
            server.close().sync();
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(60, TimeUnit.SECONDS);
        }
    }
}
