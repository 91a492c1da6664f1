package io.vsocket.testsuite.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.TrafficShapingHandlerTest;

import java.util.List;

/** Netty's {@link TrafficShapingHandlerTest} on vsocket. */
class VSocketTrafficShapingHandlerTest extends TrafficShapingHandlerTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }
}
