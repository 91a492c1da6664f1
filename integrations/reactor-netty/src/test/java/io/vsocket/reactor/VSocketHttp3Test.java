package io.vsocket.reactor;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import io.vsocket.channel.VSocketDatagramChannel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.Http3SslContextSpec;
import reactor.netty.http.HttpProtocol;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.server.HttpServer;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reactor Netty's HTTP/3 (QUIC, Netty's quiche codec) with server and client {@code runOn} the
 * vsocket loop resources: the QUIC connections ride on {@link VSocketDatagramChannel}s (over shared
 * memory once the two channels have found each other on this host). Small and large bodies both
 * ways, concurrent requests on one connection, every byte checked.
 */
class VSocketHttp3Test {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static VSocketLoopResources loops;
    private static DisposableServer server;
    private static X509Bundle certificate;
    private static final Set<Class<?>> datagramTypes = ConcurrentHashMap.newKeySet();
    private static volatile Channel serverDatagrams;

    @BeforeAll
    static void start() throws Exception {
        certificate = new CertificateBuilder().subject("CN=localhost").setIsCertificateAuthority(true)
                .buildSelfSigned();
        loops = VSocketLoopResources.create("h3-test", 2, true);
        server = HttpServer.create()
                .host("127.0.0.1").port(0)
                .protocol(HttpProtocol.HTTP3)
                .secure(spec -> spec.sslContext(Http3SslContextSpec.forServer(
                        certificate.getKeyPair().getPrivate(), null, certificate.getCertificate())))
                .http3Settings(VSocketHttp3Test::settings)
                .runOn(loops)
                .doOnBound(bound -> {
                    serverDatagrams = bound.channel();
                    datagramTypes.add(bound.channel().getClass());
                })
                .route(routes -> routes
                        .get("/hello", (req, res) -> res.sendString(Mono.just("hello vsocket")))
                        .post("/crc", (req, res) -> res.sendString(req.receive().aggregate().asByteArray()
                                .map(bytes -> Long.toString(VSocketLoopResourcesTest.crc(bytes)))))
                        .get("/bytes/{n}", (req, res) -> {
                            int n = Integer.parseInt(req.param("n"));
                            return res.send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(VSocketLoopResourcesTest.pattern(n))));
                        }))
                .bindNow(TIMEOUT);
    }

    private static reactor.netty.http.Http3SettingsSpec.Builder settings(reactor.netty.http.Http3SettingsSpec.Builder spec) {
        return spec.idleTimeout(Duration.ofSeconds(10))
                .maxData(64L * 1024 * 1024)
                .maxStreamDataBidirectionalLocal(4L * 1024 * 1024)
                .maxStreamDataBidirectionalRemote(4L * 1024 * 1024)
                .maxStreamsBidirectional(100);
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.disposeNow(TIMEOUT);
        }
        if (loops != null) {
            loops.disposeLater().block(TIMEOUT);
        }
    }

    private static HttpClient client() {
        InetSocketAddress address = (InetSocketAddress) server.address();
        return HttpClient.create().runOn(loops).protocol(HttpProtocol.HTTP3)
                .secure(spec -> spec.sslContext(Http3SslContextSpec.forClient()
                        .configure(builder -> builder.trustManager(InsecureTrustManagerFactory.INSTANCE))))
                .http3Settings(VSocketHttp3Test::settings)
                .doOnConnected(c -> datagramTypes.add(datagramOf(c.channel()).getClass()))
                .host(address.getHostString()).port(address.getPort());
    }

    /** A request's channel is a QUIC stream, its parent the QUIC connection, whose parent is the datagram channel. */
    private static Channel datagramOf(Channel channel) {
        Channel c = channel;
        while (c.parent() != null) {
            c = c.parent();
        }
        return c;
    }

    @Test
    void requestsAndLargeBodiesBothWaysRideOnVSocketDatagramChannels() throws Exception {
        HttpClient client = client();
        assertEquals("hello vsocket", client.get().uri("/hello").responseContent().aggregate().asString().block(TIMEOUT));

        byte[] upload = new byte[3 * 1024 * 1024 + 17];
        new Random(3).nextBytes(upload);
        assertEquals(Long.toString(VSocketLoopResourcesTest.crc(upload)), client.post().uri("/crc")
                .send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(upload)))
                .responseContent().aggregate().asString().block(TIMEOUT), "upload");

        int n = 5 * 1024 * 1024 + 3;
        assertArrayEquals(VSocketLoopResourcesTest.pattern(n), client.get().uri("/bytes/" + n)
                .responseContent().aggregate().asByteArray().block(TIMEOUT), "download");

        List<String> bodies = Flux.range(0, 32)
                .flatMap(i -> client.get().uri("/hello").responseContent().aggregate().asString())
                .collectList().block(TIMEOUT);
        assertEquals(32, bodies.size());
        bodies.forEach(body -> assertEquals("hello vsocket", body));

        assertEquals(Set.of(VSocketDatagramChannel.class), datagramTypes);
        VSocketDatagramChannel datagrams = (VSocketDatagramChannel) serverDatagrams;
        long overShm = datagrams.eventLoop().submit(datagrams::shmDatagramsReceived).get(5, TimeUnit.SECONDS);
        assertTrue(overShm > 100, "QUIC packets the server received over shm: " + overShm);
    }
}
