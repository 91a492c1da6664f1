package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.DatagramUnicastInetTest;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/**
 * Netty's {@link DatagramUnicastInetTest} on rxe0's address in the SoftRoCE VM: vsocket datagram
 * channels with UD queue pairs, with each other (UD required: every datagram of a bound channel
 * goes over UD, waiting for the peer's resolution first) and against NIO each way (a plain peer:
 * UDP, after one resolution request that goes unanswered). The connect classes
 * (DatagramConnectNotExistsTest, DatagramConnectedWriteExceptionTest) are not repeated here: they
 * bind and connect to loopback, which no RDMA device serves, so they would test nothing the native
 * run does not.
 */
@Tag("softroce")
class RdmaDatagramUnicastTest extends DatagramUnicastInetTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<Bootstrap, Bootstrap>> newFactories() {
        return RdmaTestPermutation.datagram();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return RdmaTestPermutation.address();
    }
}
