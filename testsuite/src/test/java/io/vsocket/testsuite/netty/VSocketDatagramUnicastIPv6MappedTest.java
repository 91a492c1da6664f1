package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.DatagramUnicastIPv6MappedTest;

import java.util.List;

/** Netty's {@link DatagramUnicastIPv6MappedTest} on vsocket: vsocket channels with each other and with NIO's. */
class VSocketDatagramUnicastIPv6MappedTest extends DatagramUnicastIPv6MappedTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<Bootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.datagram(socketInternetProtocalFamily());
    }
}
