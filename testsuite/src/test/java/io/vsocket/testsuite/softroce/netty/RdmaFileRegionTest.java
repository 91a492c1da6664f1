package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.SocketFileRegionTest;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/**
 * Netty's {@link SocketFileRegionTest} on the rdma link (SoftRoCE VM): a file read straight into
 * the registered staging ring, custom regions copied into it, mixed with buffers sent in place.
 */
@Tag("softroce")
class RdmaFileRegionTest extends SocketFileRegionTest {
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
