package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.testsuite.netty.VSocketTestPermutation;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Netty's socket testsuite on the rdma link, in the SoftRoCE VM: a vsocket server and client both
 * pinned to rdma (a pinned connection fails rather than falls back, so a green test proves that
 * rdma carried it), bound to rxe0's netdev address instead of loopback, which has no RDMA device.
 */
final class RdmaTestPermutation {
    private static final String ADDRESS = System.getProperty("vsocket.softroce.address", "169.254.77.1");
    private static final EventLoopGroup GROUP = new VSocketEventLoopGroup(2, new DefaultThreadFactory("testsuite-rdma", true));

    private RdmaTestPermutation() {
    }

    static {
        long after = Long.getLong("vsocket.debug.dumpAfterSeconds", 0);
        if (after > 0) {
            Thread dumper = new Thread(() -> {
                try {
                    Thread.sleep(after * 1000);
                } catch (InterruptedException e) {
                    return;
                }
                Thread.getAllStackTraces().forEach((t, stack) -> {
                    StringBuilder b = new StringBuilder("DUMP ").append(t).append('\n');
                    for (StackTraceElement e : stack) {
                        b.append("    ").append(e).append('\n');
                    }
                    System.err.print(b);
                });
            });
            dumper.setDaemon(true);
            dumper.start();
        }
    }

    /**
     * Netty's allocators and the one a vsocket channel has by default where an RDMA device is, whose
     * buffers the rdma link sends in place (the data-path classes run with all three).
     */
    static List<ByteBufAllocator> allocators() {
        List<ByteBufAllocator> all = new ArrayList<>(TestsuitePermutation.allocator());
        all.add(RegisteredAllocator.shared());
        return all;
    }

    /**
     * Datagram channels on this group: with each other UD is required (a bound channel's datagrams
     * wait for the peer's resolution rather than go over UDP, so a green run proves UD carried them;
     * an unbound client, as in testSimpleSendWithoutBind, has no endpoint and still uses UDP), and
     * against Netty's NIO channel each way over UDP.
     */
    static List<BootstrapComboFactory<Bootstrap, Bootstrap>> datagram() {
        TestsuitePermutation.BootstrapFactory<Bootstrap> vsocket =
                // Both ends run in this VM, on one host: shm would carry them, and UD is under test.
                () -> new Bootstrap().group(GROUP).channel(VSocketDatagramChannel.class)
                        .option(VSocketChannelOption.DATAGRAM_SHM, false);
        TestsuitePermutation.BootstrapFactory<Bootstrap> pinned =
                () -> vsocket.newInstance().option(VSocketChannelOption.DATAGRAM_UD_REQUIRED, true);
        return VSocketTestPermutation.INSTANCE.datagram(SocketProtocolFamily.INET, pinned, vsocket);
    }

    static SocketAddress address() {
        return new InetSocketAddress(ADDRESS, 0);
    }

    static List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socket() {
        return List.of(new BootstrapComboFactory<>() {
            @Override
            public ServerBootstrap newServerInstance() {
                return new ServerBootstrap().group(GROUP).channel(VSocketServerSocketChannel.class)
                        .childOption(VSocketChannelOption.LINKS, List.of(VSocketLink.RDMA))
                        // The VM emulates the CPU: a loop's first rdma connection opens the device slowly.
                        .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000);
            }

            @Override
            public Bootstrap newClientInstance() {
                return new Bootstrap().group(GROUP).channel(VSocketSocketChannel.class)
                        .option(VSocketChannelOption.LINKS, List.of(VSocketLink.RDMA))
                        .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000);
            }

            @Override
            public String toString() {
                return "vsocket-rdma";
            }
        });
    }
}
