package io.vsocket.examples.http;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The file server with a plain HTTP client (the JDK's: served over the tcp link) and with a Netty
 * HTTP client on vsocket (served over shm, the file read straight into the ring), several files on
 * one keep-alive connection, and nothing outside its folder.
 */
class FileServerTest {
    @TempDir
    static Path dir;
    private static Path folder;
    private static byte[] big;
    private static EventLoopGroup group;
    private static FileServer server;

    @BeforeAll
    static void start() throws Exception {
        folder = Files.createDirectory(dir.resolve("served"));
        big = new byte[10 * 1024 * 1024 + 17];
        new Random(11).nextBytes(big);
        Files.write(folder.resolve("big.bin"), big);
        Files.writeString(folder.resolve("small.txt"), "hello, file\n");
        Files.writeString(dir.resolve("secret.txt"), "outside the folder\n");
        group = new VSocketEventLoopGroup(2);
        server = FileServer.start(group, new InetSocketAddress("127.0.0.1", 0), folder);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    private static URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    @Test
    void aPlainClientGetsFilesWholeAndNothingOutsideTheFolder() throws Exception {
        try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            HttpResponse<byte[]> file = client.send(HttpRequest.newBuilder(uri("/big.bin")).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, file.statusCode());
            assertArrayEquals(big, file.body());
            assertEquals("hello, file\n", client.send(HttpRequest.newBuilder(uri("/small.txt")).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertEquals(404, client.send(HttpRequest.newBuilder(uri("/missing")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());
            assertEquals(404, client.send(HttpRequest.newBuilder(uri("/%2e%2e/secret.txt")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode(), "a path out of the folder");
        }
    }

    @Test
    void aVSocketClientGetsFilesOverShmOnOneKeepAliveConnection() throws Exception {
        BlockingQueue<FullHttpResponse> responses = new LinkedBlockingQueue<>();
        Channel ch = new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                .handler(new ChannelInitializer<VSocketSocketChannel>() {
                    @Override
                    protected void initChannel(VSocketSocketChannel c) {
                        c.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(32 * 1024 * 1024),
                                new SimpleChannelInboundHandler<FullHttpResponse>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse msg) {
                                        responses.add(msg.retain());
                                    }
                                });
                    }
                })
                .connect(server.address()).sync().channel();
        try {
            assertEquals(VSocketLink.SHM, awaitShm((VSocketSocketChannel) ch));
            for (String path : new String[] {"/big.bin", "/small.txt", "/big.bin"}) {
                DefaultFullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
                request.headers().set(HttpHeaderNames.HOST, "localhost");
                ch.writeAndFlush(request).sync();
                FullHttpResponse response = responses.poll(60, TimeUnit.SECONDS);
                assertNotNull(response, path);
                try {
                    assertEquals(200, response.status().code(), path);
                    byte[] body = ByteBufUtil.getBytes(response.content());
                    assertArrayEquals(path.equals("/small.txt") ? "hello, file\n".getBytes() : big, body, path);
                } finally {
                    response.release();
                }
            }
            assertEquals(true, ch.isActive(), "the connection was kept alive");
        } finally {
            ch.close().sync();
        }
    }

    /** The channel's link once it is shm, or after 10 s (on one host a connection begins on tcp and moves onto shm). */
    private static VSocketLink awaitShm(VSocketSocketChannel ch) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (ch.link() != VSocketLink.SHM && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        return ch.link();
    }
}
