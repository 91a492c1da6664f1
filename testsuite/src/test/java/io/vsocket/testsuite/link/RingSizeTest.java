package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.channel.VSocketSocketChannelConfig;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The receive ring's size: each link's default where the application set none (1 MiB on shm, where a
 * 256 KiB message then crosses without waiting for credit; 256 KiB on rdma, where a ring is pinned
 * memory), the application's size on every link where it set one, on each side for its own ring.
 */
@Timeout(60)
class RingSizeTest {
    @Test
    void unsetEachLinkTakesItsDefaultAndTheOptionReadsZero() {
        VSocketSocketChannel channel = new VSocketSocketChannel();
        try {
            VSocketSocketChannelConfig config = channel.config();
            assertEquals(0, config.getOption(VSocketChannelOption.RING_SIZE), "unset");
            assertEquals(0, config.getOptions().get(VSocketChannelOption.RING_SIZE));
            assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, config.getRingSize(VSocketLink.SHM));
            assertEquals(VSocketLinks.DEFAULT_RDMA_RING_SIZE, config.getRingSize(VSocketLink.RDMA));
            if (System.getProperty(VSocketLinks.RING_SIZE_PROPERTY) == null) {
                assertEquals(1 << 20, VSocketLinks.DEFAULT_SHM_RING_SIZE);
                assertEquals(256 << 10, VSocketLinks.DEFAULT_RDMA_RING_SIZE);
            }

            assertTrue(config.setOption(VSocketChannelOption.RING_SIZE, 65536));
            assertEquals(65536, config.getOption(VSocketChannelOption.RING_SIZE));
            assertEquals(65536, config.getRingSize(VSocketLink.SHM), "a size set holds for every link");
            assertEquals(65536, config.getRingSize(VSocketLink.RDMA));

            // What the option read gives back sets it again: 0 is each link's default.
            assertTrue(config.setOption(VSocketChannelOption.RING_SIZE, 0));
            assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, config.getRingSize(VSocketLink.SHM));
            assertEquals(VSocketLinks.DEFAULT_RDMA_RING_SIZE, config.getRingSize(VSocketLink.RDMA));

            ChannelConfig plain = config;
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> plain.setOption(VSocketChannelOption.RING_SIZE, 3000));
            assertTrue(refused.getMessage().contains("power of two"), refused.getMessage());
            assertEquals(0, config.getRingSize(), "unchanged by the refused size");
        } finally {
            channel.unsafe().closeForcibly();
        }
    }

    @Test
    void aDefaultShmConnectionHasTheShmDefaultBothWays() throws Exception {
        List<ShmLink> links = connect(null, null);
        ShmLink client = links.get(0);
        ShmLink server = links.get(1);
        assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, client.receiveRingSize());
        assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, client.sendRingSize());
        assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, server.receiveRingSize());
        assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, server.sendRingSize());
    }

    @Test
    void eachSideSetsItsOwnReceiveRing() throws Exception {
        List<ShmLink> links = connect(16384, 65536);
        ShmLink client = links.get(0);
        ShmLink server = links.get(1);
        assertEquals(16384, client.receiveRingSize());
        assertEquals(65536, client.sendRingSize(), "the client writes into the server's ring");
        assertEquals(65536, server.receiveRingSize());
        assertEquals(16384, server.sendRingSize());

        List<ShmLink> half = connect(null, 32768);
        assertEquals(VSocketLinks.DEFAULT_SHM_RING_SIZE, half.get(0).receiveRingSize(), "the client left it unset");
        assertEquals(32768, half.get(0).sendRingSize());
    }

    /**
     * An shm connection with these ring sizes (null: unset) on the client and the server: both sides'
     * links, read on their loops once both channels are active; the connection is closed before this returns.
     */
    private static List<ShmLink> connect(Integer clientRing, Integer serverRing) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        try {
            CompletableFuture<Channel> accepted = new CompletableFuture<>();
            var serverBootstrap = Peers.vsocketServer(group, List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter() {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    accepted.complete(ctx.channel());
                    ctx.fireChannelActive();
                }

                @Override
                public boolean isSharable() {
                    return true;
                }
            });
            if (serverRing != null) {
                serverBootstrap.childOption(VSocketChannelOption.RING_SIZE, serverRing);
            }
            Channel server = serverBootstrap.bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            var clientBootstrap = Peers.vsocketClient(group, List.of(VSocketLink.SHM), new ChannelInboundHandlerAdapter());
            if (clientRing != null) {
                clientBootstrap.option(VSocketChannelOption.RING_SIZE, clientRing);
            }
            Channel client = clientBootstrap.connect(server.localAddress()).sync().channel();
            Channel child = accepted.get(10, TimeUnit.SECONDS);
            ShmLink clientLink = client.eventLoop().submit(() -> ShmInternals.link(client)).get(10, TimeUnit.SECONDS);
            ShmLink serverLink = child.eventLoop().submit(() -> ShmInternals.link(child)).get(10, TimeUnit.SECONDS);
            assertNotNull(clientLink, "the client is on shm");
            assertNotNull(serverLink, "the server's channel is on shm");
            List<ShmLink> links = List.of(clientLink, serverLink);
            client.close().sync();
            server.close().sync();
            return links;
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
    }
}
