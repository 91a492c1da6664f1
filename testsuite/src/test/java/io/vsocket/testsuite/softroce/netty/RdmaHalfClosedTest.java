package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketHalfClosedTest;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link SocketHalfClosedTest} on the rdma link (SoftRoCE VM). */
@Tag("softroce")
class RdmaHalfClosedTest extends SocketHalfClosedTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return RdmaTestPermutation.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return RdmaTestPermutation.address();
    }
}
