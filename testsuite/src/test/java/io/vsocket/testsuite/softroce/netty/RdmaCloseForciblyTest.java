package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketCloseForciblyTest;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link SocketCloseForciblyTest} on the rdma link (SoftRoCE VM). */
@Tag("softroce")
class RdmaCloseForciblyTest extends SocketCloseForciblyTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return RdmaTestPermutation.socket();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return RdmaTestPermutation.address();
    }
}
