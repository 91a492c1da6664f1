package io.vsocket.testsuite.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import io.netty.testsuite.transport.socket.SocketSslLargeCertificateTest;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.TrustManagerFactory;

/**
 * Netty's {@link SocketSslLargeCertificateTest} on vsocket. Netty's class builds its own NIO
 * bootstraps (it has no permutation hook), so its case is repeated here with vsocket's, once per
 * link: a TLS 1.3 handshake with client authentication whose client certificate carries an
 * extension of 16 KiB - 768 to 16 KiB (so the certificate message straddles the default 16 KiB
 * handshake-message limit, raised to 32 KiB on both sides), then an echo and a close.
 */
@EnabledIf("io.netty.testsuite.transport.socket.SocketSslLargeCertificateTest#supportKeyManagerAndTLS13")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VSocketSslLargeCertificateTest {
    private CertificateBuilder base;
    private X509Bundle rootCert;

    @BeforeAll
    void setUp() throws Exception {
        base = new CertificateBuilder()
                .ecp256()
                .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature,
                        CertificateBuilder.KeyUsage.keyCertSign);
        rootCert = base.copy()
                .subject("cn=root.netty.io")
                .setIsCertificateAuthority(true)
                .buildSelfSigned();
    }

    static Stream<Arguments> linksAndCertExtensionSizes() {
        int defaultMaxHandshakeMessageLength = 16384;
        return VSocketTestPermutation.LINKS.stream().flatMap(link -> IntStream
                .rangeClosed(defaultMaxHandshakeMessageLength - 768, defaultMaxHandshakeMessageLength)
                .mapToObj(size -> Arguments.of(link, size)));
    }

    @ParameterizedTest(name = "{0}: extension of {1} bytes")
    @MethodSource("linksAndCertExtensionSizes")
    void resumptionWithLargeCertificates(VSocketLink link, int certExtensionSize) throws Exception {
        X509Bundle serverCert = base.copy()
                .subject("cn=localhost")
                .addExtendedKeyUsageServerAuth()
                .buildIssuedBy(rootCert);
        byte[] extension = new byte[certExtensionSize];
        ThreadLocalRandom.current().nextBytes(extension);
        X509Bundle clientCert = base.copy()
                .subject("cn=client")
                .addExtendedKeyUsageClientAuth()
                .addExtensionOctetString("1.2.840.113635.100.6.2.1", false, extension)
                .buildIssuedBy(rootCert);

        TrustManagerFactory tmf = rootCert.toTrustManagerFactory();
        KeyManagerFactory serverKmf = serverCert.toKeyManagerFactory();
        KeyManagerFactory clientKmf = clientCert.toKeyManagerFactory();

        SslContext serverSsl = SslContextBuilder.forServer(serverKmf)
                .sslProvider(SslProvider.OPENSSL)
                .trustManager(tmf)
                .protocols("TLSv1.3")
                .clientAuth(ClientAuth.REQUIRE)
                .option(OpenSslContextOption.MAX_CERTIFICATE_LIST_BYTES, 32768)
                .build();
        SslContext clientSsl = SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .keyManager(clientKmf)
                .trustManager(tmf)
                .protocols("TLSv1.3")
                .option(OpenSslContextOption.MAX_CERTIFICATE_LIST_BYTES, 32768)
                .serverName(new SNIHostName("localhost"))
                .endpointIdentificationAlgorithm(null)
                .build();

        Promise<Void> completion = ImmediateEventExecutor.INSTANCE.newPromise();

        Channel serverChannel = VSocketTestPermutation.server(link)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(serverSsl.newHandler(ch.alloc()));
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof SslHandshakeCompletionEvent event) {
                                    if (event.isSuccess()) {
                                        ctx.writeAndFlush(Unpooled.buffer());
                                    } else {
                                        completion.tryFailure(new ExecutionException(event.cause()));
                                        ctx.close();
                                    }
                                }
                            }

                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ctx.write(msg);
                            }

                            @Override
                            public void channelReadComplete(ChannelHandlerContext ctx) {
                                ctx.flush();
                            }
                        });
                    }
                })
                .bind(InetAddress.getLoopbackAddress(), 0).sync().channel();
        InetSocketAddress serverAddress = (InetSocketAddress) serverChannel.localAddress();
        Channel clientChannel = VSocketTestPermutation.client(link)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(clientSsl.newHandler(ch.alloc(), "localhost", serverAddress.getPort()));
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            private boolean receivedRead;

                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof SslHandshakeCompletionEvent event) {
                                    if (event.isSuccess()) {
                                        ctx.writeAndFlush(Unpooled.copiedBuffer("hello", StandardCharsets.UTF_8));
                                    } else {
                                        completion.tryFailure(new ExecutionException(event.cause()));
                                        ctx.close();
                                    }
                                }
                            }

                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                receivedRead = true;
                                ReferenceCountUtil.release(msg);
                            }

                            @Override
                            public void channelReadComplete(ChannelHandlerContext ctx) {
                                ctx.fireChannelReadComplete();
                                if (receivedRead) {
                                    receivedRead = false;
                                    ctx.writeAndFlush(Unpooled.buffer()).addListener(ChannelFutureListener.CLOSE);
                                    ctx.channel().closeFuture().addListener(future -> completion.trySuccess(null));
                                }
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                completion.tryFailure(cause);
                                ctx.fireExceptionCaught(cause);
                            }
                        });
                    }
                })
                .connect(serverAddress).sync().channel();
        try {
            completion.sync();
        } finally {
            clientChannel.close().sync();
            serverChannel.close().sync();
        }
    }
}
