package io.vsocket.reactor;

import io.netty.buffer.Unpooled;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.HttpProtocol;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.server.HttpServer;
import reactor.netty.resources.ConnectionProvider;
import reactor.netty.udp.UdpClient;
import reactor.netty.udp.UdpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reactor Netty's real {@link HttpServer} and {@link HttpClient} on {@link VSocketLoopResources}: the
 * connections are vsocket channels (checked, with their link: shm, both ends being in this process
 * on one host), and HTTP/1.1 and h2c requests, keep-alive, large bodies both ways and chunked
 * responses come through intact.
 */
class VSocketLoopResourcesTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static VSocketLoopResources loops;
    private static DisposableServer server;
    /** A file of 16 MiB of random bytes that the server sends with sendFile (a FileRegion). */
    private static Path file;
    private static byte[] fileBytes;
    /** The links of the server's accepted connections, as seen from the server's handlers. */
    private static final Set<VSocketSocketChannel> serverChannels = ConcurrentHashMap.newKeySet();
    private static final Set<Class<?>> serverChannelTypes = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void start() throws IOException {
        fileBytes = new byte[16 * 1024 * 1024 + 5];
        new Random(7).nextBytes(fileBytes);
        file = Files.createTempFile("vsocket-sendfile", ".bin");
        Files.write(file, fileBytes);
        loops = VSocketLoopResources.create("rn-test", 2, true);
        server = HttpServer.create()
                .host("127.0.0.1").port(0)
                .protocol(HttpProtocol.HTTP11, HttpProtocol.H2C)
                .runOn(loops)
                .doOnConnection(c -> {
                    serverChannelTypes.add(c.channel().getClass());
                    if (c.channel() instanceof VSocketSocketChannel ch) {
                        serverChannels.add(ch);
                    }
                })
                .route(routes -> routes
                        .get("/hello", (req, res) -> res.sendString(Mono.just("hello vsocket")))
                        .get("/file", (req, res) -> res.sendFile(file))
                        .get("/file/{from}/{count}", (req, res) -> res.sendFile(file,
                                Long.parseLong(req.param("from")), Long.parseLong(req.param("count"))))
                        .post("/crc", (req, res) -> res.sendString(req.receive().aggregate().asByteArray()
                                .map(bytes -> Long.toString(crc(bytes)))))
                        .get("/bytes/{n}", (req, res) -> {
                            int n = Integer.parseInt(req.param("n"));
                            return res.send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(pattern(n))));
                        })
                        .get("/chunked/{chunks}", (req, res) -> {
                            int chunks = Integer.parseInt(req.param("chunks"));
                            return res.chunkedTransfer(true).sendString(Flux.range(0, chunks).map(i -> "chunk-" + i + ";"));
                        }))
                .bindNow(TIMEOUT);
    }

    @AfterAll
    static void stop() throws IOException {
        if (server != null) {
            server.disposeNow(TIMEOUT);
        }
        if (loops != null) {
            loops.disposeLater().block(TIMEOUT);
        }
        if (file != null) {
            Files.deleteIfExists(file);
        }
    }

    private static HttpClient client(HttpProtocol protocol, ConnectionProvider pool) {
        InetSocketAddress address = (InetSocketAddress) server.address();
        return HttpClient.create(pool).runOn(loops).protocol(protocol)
                .host(address.getHostString()).port(address.getPort());
    }

    @Test
    void theServerAndClientRunOnVSocketChannelsOverShm() throws InterruptedException {
        assertInstanceOf(VSocketServerSocketChannel.class, server.channel());
        ConnectionProvider pool = ConnectionProvider.create("links", 1);
        try {
            Set<Class<?>> clientTypes = ConcurrentHashMap.newKeySet();
            Set<VSocketSocketChannel> clientChannels = ConcurrentHashMap.newKeySet();
            String body = client(HttpProtocol.HTTP11, pool)
                    .doOnConnected(c -> {
                        clientTypes.add(c.channel().getClass());
                        if (c.channel() instanceof VSocketSocketChannel ch) {
                            clientChannels.add(ch);
                        }
                    })
                    .get().uri("/hello").responseContent().aggregate().asString().block(TIMEOUT);
            assertEquals("hello vsocket", body);
            assertEquals(Set.of(VSocketSocketChannel.class), clientTypes);
            // (On one host a connection begins on tcp and moves onto shm when the hello completes.)
            Set<VSocketLink> clientLinks = ConcurrentHashMap.newKeySet();
            for (VSocketSocketChannel ch : clientChannels) {
                clientLinks.add(awaitShm(ch));
            }
            assertEquals(Set.of(VSocketLink.SHM), clientLinks);
            assertEquals(Set.of(VSocketSocketChannel.class), serverChannelTypes);
            Set<VSocketLink> serverLinks = ConcurrentHashMap.newKeySet();
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
            do {
                serverLinks.clear();
                for (VSocketSocketChannel ch : serverChannels) {
                    serverLinks.add(ch.link());
                }
            } while (!serverLinks.contains(VSocketLink.SHM) && System.nanoTime() < deadline && sleep2());
            assertTrue(serverLinks.contains(VSocketLink.SHM), "server-side links: " + serverLinks);
        } finally {
            pool.disposeLater().block(TIMEOUT);
        }
    }

    @Test
    void keepAliveReusesOneConnectionForManyRequests() {
        ConnectionProvider pool = ConnectionProvider.create("keepalive", 1);
        try {
            Set<Object> connections = ConcurrentHashMap.newKeySet();
            HttpClient c = client(HttpProtocol.HTTP11, pool).doOnConnected(conn -> connections.add(conn.channel().id()));
            for (int i = 0; i < 200; i++) {
                assertEquals("hello vsocket", c.get().uri("/hello").responseContent().aggregate().asString().block(TIMEOUT));
            }
            assertEquals(1, connections.size(), "one pooled keep-alive connection serves every request");
        } finally {
            pool.disposeLater().block(TIMEOUT);
        }
    }

    @Test
    void largeBodiesBothWaysOverHttp11AndH2c() {
        for (HttpProtocol protocol : List.of(HttpProtocol.HTTP11, HttpProtocol.H2C)) {
            ConnectionProvider pool = ConnectionProvider.create("large-" + protocol, 4);
            try {
                byte[] upload = new byte[6 * 1024 * 1024 + 123];
                new Random(42).nextBytes(upload);
                String crc = client(protocol, pool).post().uri("/crc")
                        .send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(upload)))
                        .responseContent().aggregate().asString().block(TIMEOUT);
                assertEquals(Long.toString(crc(upload)), crc, protocol + " upload");

                int n = 8 * 1024 * 1024 + 7;
                byte[] download = client(protocol, pool).get().uri("/bytes/" + n)
                        .responseContent().aggregate().asByteArray().block(TIMEOUT);
                assertArrayEquals(pattern(n), download, protocol + " download");
            } finally {
                pool.disposeLater().block(TIMEOUT);
            }
        }
    }

    /**
     * {@code sendFile} writes a {@code FileRegion} (over HTTP/1.1 without TLS or compression): it once
     * closed the connection mid-response, since no vsocket channel took one. Whole and in part, several
     * times on one keep-alive connection.
     */
    @Test
    void sendFileArrivesIntactOnAKeepAliveConnection() {
        ConnectionProvider pool = ConnectionProvider.create("sendfile", 1);
        try {
            HttpClient c = client(HttpProtocol.HTTP11, pool);
            for (int i = 0; i < 3; i++) {
                byte[] whole = c.get().uri("/file").responseContent().aggregate().asByteArray().block(TIMEOUT);
                assertArrayEquals(fileBytes, whole, "whole file, request " + i);
            }
            int from = 1_000_003;
            int count = 5 * 1024 * 1024 + 11;
            byte[] part = c.get().uri("/file/" + from + "/" + count).responseContent().aggregate().asByteArray()
                    .block(TIMEOUT);
            assertArrayEquals(java.util.Arrays.copyOfRange(fileBytes, from, from + count), part, "a range of the file");
        } finally {
            pool.disposeLater().block(TIMEOUT);
        }
    }

    @Test
    void chunkedResponsesArriveWhole() {
        ConnectionProvider pool = ConnectionProvider.create("chunked", 2);
        try {
            String body = client(HttpProtocol.HTTP11, pool).get().uri("/chunked/5000")
                    .response((res, content) -> {
                        assertEquals("chunked", res.responseHeaders().get("transfer-encoding"));
                        return content.aggregate().asString();
                    }).blockLast(TIMEOUT);
            StringBuilder expected = new StringBuilder();
            for (int i = 0; i < 5000; i++) {
                expected.append("chunk-").append(i).append(';');
            }
            assertEquals(expected.toString(), body);
        } finally {
            pool.disposeLater().block(TIMEOUT);
        }
    }

    @Test
    void concurrentRequestsOnSeveralConnections() {
        ConnectionProvider pool = ConnectionProvider.builder("concurrent").maxConnections(16)
                .pendingAcquireMaxCount(-1).build();
        try {
            List<String> bodies = Flux.range(0, 500)
                    .flatMap(i -> client(HttpProtocol.HTTP11, pool).get().uri("/bytes/" + (1000 + i))
                            .responseContent().aggregate().asByteArray()
                            .map(b -> b.length + ":" + crc(b)), 64)
                    .collectList().block(TIMEOUT);
            assertEquals(500, bodies.size());
            for (int i = 0; i < 500; i++) {
                assertTrue(bodies.contains((1000 + i) + ":" + crc(pattern(1000 + i))), "response for " + (1000 + i));
            }
        } finally {
            pool.disposeLater().block(TIMEOUT);
        }
    }

    /** A channel type vsocket has no class for. */
    private interface OtherChannel extends io.netty.channel.Channel {
    }

    /**
     * h2c with a larger HTTP/2 initial window on the server (a usual tuning for throughput): Netty's
     * codec writes its connection window update as its handler is added, and its SETTINGS there too only
     * if the channel is active — an accepted channel whose pipeline met it inactive sent the update first,
     * and the client refused the connection. Large bodies both ways on it.
     */
    @Test
    void anH2cServerWithALargerInitialWindowServesLargeBodies() {
        DisposableServer tuned = HttpServer.create().host("127.0.0.1").port(0)
                .protocol(HttpProtocol.H2C)
                .http2Settings(s -> s.initialWindowSize(1 << 20))
                .runOn(loops)
                .route(routes -> routes
                        .get("/hello", (req, res) -> res.sendString(Mono.just("hello vsocket")))
                        .post("/crc", (req, res) -> res.sendString(req.receive().aggregate().asByteArray()
                                .map(bytes -> Long.toString(crc(bytes))))))
                .bindNow(TIMEOUT);
        ConnectionProvider pool = ConnectionProvider.create("h2c-window", 1);
        try {
            InetSocketAddress address = (InetSocketAddress) tuned.address();
            HttpClient client = HttpClient.create(pool).runOn(loops).protocol(HttpProtocol.H2C)
                    .host(address.getHostString()).port(address.getPort());
            assertEquals("hello vsocket", client.get().uri("/hello").responseContent().aggregate().asString()
                    .block(TIMEOUT));
            byte[] upload = new byte[4 * 1024 * 1024 + 11];
            new Random(11).nextBytes(upload);
            assertEquals(Long.toString(crc(upload)), client.post().uri("/crc")
                    .send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(upload)))
                    .responseContent().aggregate().asString().block(TIMEOUT));
        } finally {
            pool.disposeLater().block(TIMEOUT);
            tuned.disposeNow(TIMEOUT);
        }
    }

    @Test
    void udpServerAndClientRunOnVSocketDatagramChannels() {
        Set<Class<?>> types = ConcurrentHashMap.newKeySet();
        var server = UdpServer.create().runOn(loops).host("127.0.0.1").port(0)
                .doOnBound(c -> types.add(c.channel().getClass()))
                .handle((in, out) -> out.sendObject(in.receiveObject().cast(DatagramPacket.class)
                        .map(p -> new DatagramPacket(Unpooled.copiedBuffer("echo:", StandardCharsets.US_ASCII)
                                .writeBytes(p.content()), p.sender()))))
                .bindNow(TIMEOUT);
        var client = UdpClient.create().runOn(loops).remoteAddress(server::address)
                .doOnConnected(c -> types.add(c.channel().getClass()))
                .connectNow(TIMEOUT);
        try {
            List<String> replies = new java.util.concurrent.CopyOnWriteArrayList<>();
            client.inbound().receive().asString(StandardCharsets.US_ASCII).doOnNext(replies::add).subscribe();
            for (int i = 0; i < 20 && replies.size() < 3; i++) {
                client.outbound().sendString(Flux.just("a", "b", "c")).then().block(TIMEOUT);
                Mono.delay(Duration.ofMillis(100)).block();
            }
            assertTrue(replies.containsAll(List.of("echo:a", "echo:b", "echo:c")), replies.toString());
            assertEquals(Set.of(VSocketDatagramChannel.class), types);
        } finally {
            client.disposeNow(TIMEOUT);
            server.disposeNow(TIMEOUT);
        }
    }

    @Test
    void channelClassesAreVSocketsAndOtherTypesAreRefusedWithAReason() {
        var group = loops.onServer(true);
        assertEquals(VSocketSocketChannel.class, loops.onChannelClass(SocketChannel.class, group));
        assertEquals(VSocketServerSocketChannel.class, loops.onChannelClass(ServerSocketChannel.class, group));
        assertEquals(VSocketSocketChannel.class, loops.onChannel(SocketChannel.class, loops.onClient(true)).getClass());
        assertEquals(VSocketDatagramChannel.class, loops.onChannelClass(DatagramChannel.class, group));
        UnsupportedOperationException other = assertThrows(UnsupportedOperationException.class,
                () -> loops.onChannelClass(OtherChannel.class, group));
        assertTrue(other.getMessage().contains("OtherChannel"), other.getMessage());
        MultiThreadIoEventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            IllegalArgumentException foreign = assertThrows(IllegalArgumentException.class,
                    () -> loops.onChannelClass(SocketChannel.class, nio));
            assertTrue(foreign.getMessage().contains("not a vsocket event loop group"), foreign.getMessage());
        } finally {
            nio.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void disposedResourcesRefuseNewGroups() {
        VSocketLoopResources own = VSocketLoopResources.create("disposed", 1, true);
        var group = own.onServer(true);
        own.disposeLater().block(TIMEOUT);
        assertTrue(own.isDisposed());
        assertTrue(group.isShutdown());
        VSocketLoopResources fresh = VSocketLoopResources.create("fresh", 1, true);
        fresh.disposeLater().block(TIMEOUT);
        assertThrows(IllegalStateException.class, () -> fresh.onServer(true));
    }

    static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + (i >>> 11));
        }
        return b;
    }

    static long crc(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    private static boolean sleep2() throws InterruptedException {
        Thread.sleep(2);
        return true;
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
