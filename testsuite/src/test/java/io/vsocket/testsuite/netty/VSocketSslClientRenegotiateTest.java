package io.vsocket.testsuite.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketSslClientRenegotiateTest;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Netty's {@link SocketSslClientRenegotiateTest} on vsocket: an OpenSSL server that refuses a
 * JDK client's renegotiation. Its cases need an OpenSSL with renegotiation, which the test
 * classpath does not have here: BoringSSL (tcnative's boringssl-static) has none by design, and
 * tcnative 2.0.81's dynamic build, linked against the system's OpenSSL, needs OpenSSL 3.2 where
 * Debian 12 has 3.0. Netty's own BoringSSL builds skip them the same way. Renegotiation over
 * vsocket itself (client- and server-initiated, JDK engines) runs in {@link VSocketSslEchoTest}.
 */
class VSocketSslClientRenegotiateTest extends SocketSslClientRenegotiateTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }

    @ParameterizedTest(name = "{index}: serverEngine = {0}, clientEngine = {1}, delegate = {2}")
    @MethodSource("data")
    @Timeout(value = 30000, unit = TimeUnit.MILLISECONDS)
    @Override
    public void testSslRenegotiationRejected(SslContext serverCtx, SslContext clientCtx, boolean delegate,
                                             TestInfo testInfo) throws Throwable {
        assumeTrue(OpenSsl.isAvailable(), "no OpenSSL (tcnative) on the test classpath");
        assumeTrue(OpenSsl.isRenegotiationSupported(), "the OpenSSL here, " + OpenSsl.versionString()
                + ", has no renegotiation (BoringSSL; the dynamic tcnative needs OpenSSL 3.2, Debian 12 has 3.0)");
        super.testSslRenegotiationRejected(serverCtx, clientCtx, delegate, testInfo);
    }
}
