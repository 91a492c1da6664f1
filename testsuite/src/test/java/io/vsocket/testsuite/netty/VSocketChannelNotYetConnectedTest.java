package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;

import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketChannelNotYetConnectedTest;

import java.util.List;

/** Netty's {@link SocketChannelNotYetConnectedTest} on vsocket. */
class VSocketChannelNotYetConnectedTest extends SocketChannelNotYetConnectedTest {
    @Override
    protected List<TestsuitePermutation.BootstrapFactory<Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.clientSocket();
    }
}
