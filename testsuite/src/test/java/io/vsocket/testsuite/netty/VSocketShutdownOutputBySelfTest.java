package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;

import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketShutdownOutputBySelfTest;

import java.util.List;

/** Netty's {@link SocketShutdownOutputBySelfTest} on vsocket. */
class VSocketShutdownOutputBySelfTest extends SocketShutdownOutputBySelfTest {
    @Override
    protected List<TestsuitePermutation.BootstrapFactory<Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.clientSocket();
    }
}
