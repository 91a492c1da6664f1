package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.AbstractSocketReuseFdTest;
import io.netty.util.NetUtil;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;

/**
 * Netty's {@link AbstractSocketReuseFdTest} on vsocket: 100 connections opened at once, each
 * exchanging a payload and closing, so descriptors (the TCP sockets, and on shm the memfds and
 * doorbell ends of each link) are closed and handed out again by the kernel while other connections
 * are still using theirs. Netty runs it on epoll's domain sockets; here it runs over TCP addresses.
 */
class VSocketReuseFdTest extends AbstractSocketReuseFdTest {
    @Override
    protected SocketAddress newSocketAddress() {
        return new InetSocketAddress(NetUtil.LOCALHOST, 0);
    }

    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.socket();
    }
}
