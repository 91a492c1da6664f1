package io.vsocket.testsuite.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketSslSessionReuseTest;

import java.util.List;

/** Netty's {@link SocketSslSessionReuseTest} on vsocket. */
class VSocketSslSessionReuseTest extends SocketSslSessionReuseTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }
}
