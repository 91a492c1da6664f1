package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;

import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.WriteBeforeRegisteredTest;

import java.util.List;

/** Netty's {@link WriteBeforeRegisteredTest} on vsocket. */
class VSocketWriteBeforeRegisteredTest extends WriteBeforeRegisteredTest {
    @Override
    protected List<TestsuitePermutation.BootstrapFactory<Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.clientSocket();
    }
}
