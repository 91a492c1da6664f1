package io.vsocket.testsuite.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketSpdyEchoTest;

import java.util.List;

/** Netty's {@link SocketSpdyEchoTest} on vsocket. */
class VSocketSpdyEchoTest extends SocketSpdyEchoTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }
}
