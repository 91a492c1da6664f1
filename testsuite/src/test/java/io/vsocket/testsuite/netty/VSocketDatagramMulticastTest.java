package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.DatagramMulticastTest;

import java.util.List;

/** Netty's {@link DatagramMulticastTest} on vsocket: vsocket channels with each other and with NIO's. */
class VSocketDatagramMulticastTest extends DatagramMulticastTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<Bootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.datagram(socketInternetProtocalFamily());
    }
}
