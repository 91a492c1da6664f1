package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketAddressesTest;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Netty's {@link SocketAddressesTest} on vsocket, with the check Netty's epoll transport makes
 * ({@code EpollSocketAddressesTest}): every address a connected channel reports, on either side,
 * has a real port and is not the wildcard address.
 */
class VSocketAddressesTest extends SocketAddressesTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }

    @Override
    protected void assertAddress(SocketAddress address) {
        assertTrue(((InetSocketAddress) address).getPort() > 0);
        assertFalse(((InetSocketAddress) address).getAddress().isAnyLocalAddress());
    }
}
