package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketBufReleaseTest;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/** Netty's {@link SocketBufReleaseTest} on the rdma link (SoftRoCE VM). */
@Tag("softroce")
class RdmaBufReleaseTest extends SocketBufReleaseTest {
    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return RdmaTestPermutation.socket();
    }

    @Override
    protected List<ByteBufAllocator> newAllocators() {
        return RdmaTestPermutation.allocators();
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return RdmaTestPermutation.address();
    }
}
