package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketDataReadInitialStateTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.util.List;

/**
 * Netty's {@link SocketDataReadInitialStateTest} on vsocket. {@code testAutoReadOffNoDataReadUntilReadCalled}
 * runs on the tcp link only: it turns {@code AUTO_READ} off on the server channel, so nothing is
 * accepted until it calls {@code read()}, and it waits for the client's connect before it does.
 * A vsocket client's connect completes after the link hello, as an SMC connect completes after its
 * CLC handshake, and the hello needs the server to have accepted; on the shm link the test would
 * wait for itself. The tcp-pinned client sends no hello, so there it runs as written.
 */
class VSocketDataReadInitialStateTest extends SocketDataReadInitialStateTest {
    private boolean tcpOnly;

    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> all =
                VSocketTestPermutation.INSTANCE.socket();
        return tcpOnly ? all.stream().filter(f -> f.toString().equals("vsocket-tcp")).toList() : all;
    }

    @Test
    @Override
    public void testAutoReadOffNoDataReadUntilReadCalled(TestInfo testInfo) throws Throwable {
        tcpOnly = true;
        try {
            super.testAutoReadOffNoDataReadUntilReadCalled(testInfo);
        } finally {
            tcpOnly = false;
        }
    }
}
