package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;

import java.util.ArrayList;
import java.util.List;

/**
 * Netty's socket testsuite on vsocket: a vsocket server with a vsocket client, once pinned to the
 * shm link and once to the tcp link (a pinned connection fails rather than fall back, so a green
 * run proves the link carried it), and once at the default links, where the connection begins on
 * tcp and moves onto shm during the test. One group serves every test, as Netty's own permutations do.
 */
public final class VSocketTestPermutation extends SocketTestPermutation {
    public static final VSocketTestPermutation INSTANCE = new VSocketTestPermutation();

    /** The links each test runs on, in order; {@code -Dvsocket.testsuite.links=shm} narrows it while debugging. */
    static final List<VSocketLink> LINKS = VSocketLinks.parse(System.getProperty("vsocket.testsuite.links", "shm,tcp"));

    /**
     * Whether each test also runs at the default links ("vsocket-upgrade"): on one host the client's
     * connect completes over tcp and the connection moves onto shm as the hello completes, mid-test;
     * by default only when the links were not narrowed ({@code -Dvsocket.testsuite.upgrade} says).
     */
    static final boolean UPGRADE = Boolean.parseBoolean(System.getProperty("vsocket.testsuite.upgrade",
            String.valueOf(System.getProperty("vsocket.testsuite.links") == null)));

    private static final EventLoopGroup GROUP =
            new VSocketEventLoopGroup(NUM_THREADS, new DefaultThreadFactory("testsuite-vsocket", true));

    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socket() {
        List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> combos = new ArrayList<>();
        for (VSocketLink link : LINKS) {
            combos.add(new BootstrapComboFactory<>() {
                @Override
                public ServerBootstrap newServerInstance() {
                    return server(link);
                }

                @Override
                public Bootstrap newClientInstance() {
                    return client(link);
                }

                @Override
                public String toString() {
                    return "vsocket-" + link.name().toLowerCase();
                }
            });
        }
        if (UPGRADE) {
            combos.add(new BootstrapComboFactory<>() {
                @Override
                public ServerBootstrap newServerInstance() {
                    return new ServerBootstrap().group(GROUP).channel(VSocketServerSocketChannel.class);
                }

                @Override
                public Bootstrap newClientInstance() {
                    return new Bootstrap().group(GROUP).channel(VSocketSocketChannel.class);
                }

                @Override
                public String toString() {
                    return "vsocket-upgrade";
                }
            });
        }
        return combos;
    }

    /**
     * Servers alone are tested with plain {@code java.net} clients, so here a server has the default
     * links (it must recognise a plain client and serve it over tcp) and then tcp only.
     */
    @Override
    public List<BootstrapFactory<ServerBootstrap>> serverSocket() {
        return List.of(
                () -> new ServerBootstrap().group(GROUP).channel(VSocketServerSocketChannel.class),
                () -> server(VSocketLink.TCP));
    }

    /**
     * Clients alone run against plain {@code java.net} servers, so here a client has the default
     * links (it must find out the server is plain and fall back) and then tcp only (no hello at all).
     */
    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocket() {
        return List.of(
                () -> new Bootstrap().group(GROUP).channel(VSocketSocketChannel.class),
                () -> client(VSocketLink.TCP));
    }

    /**
     * Datagrams: a vsocket channel with a vsocket channel, and each way with Netty's NIO channel (a
     * vsocket channel must serve plain UDP peers unchanged).
     */
    @Override
    public List<BootstrapComboFactory<Bootstrap, Bootstrap>> datagram(SocketProtocolFamily family) {
        return datagram(family, VSocketTestPermutation::datagramBootstrap, VSocketTestPermutation::datagramBootstrap);
    }

    /**
     * The datagram combinations for channels made elsewhere (the SoftRoCE VM's, on rxe0): {@code pair}
     * with itself, and {@code single} with Netty's NIO channel each way.
     */
    public List<BootstrapComboFactory<Bootstrap, Bootstrap>> datagram(SocketProtocolFamily family,
            BootstrapFactory<Bootstrap> pair, BootstrapFactory<Bootstrap> single) {
        BootstrapFactory<Bootstrap> nio = () -> new Bootstrap().group(NIO_GROUP).channelFactory(new ChannelFactory<Channel>() {
            @Override
            public Channel newChannel() {
                return new NioDatagramChannel(family);
            }

            @Override
            public String toString() {
                return "NioDatagramChannel(" + family + ")";
            }
        });
        return List.of(combo("vsocket-vsocket", pair, pair), combo("vsocket-nio", single, nio),
                combo("nio-vsocket", nio, single));
    }

    /** A vsocket datagram channel alone (Netty runs these against nothing, or a bad port). */
    @Override
    public List<BootstrapFactory<Bootstrap>> datagramSocket() {
        return List.of(VSocketTestPermutation::datagramBootstrap);
    }

    static Bootstrap datagramBootstrap() {
        return new Bootstrap().group(GROUP).channel(VSocketDatagramChannel.class);
    }

    private static BootstrapComboFactory<Bootstrap, Bootstrap> combo(String name, BootstrapFactory<Bootstrap> server,
            BootstrapFactory<Bootstrap> client) {
        return new BootstrapComboFactory<>() {
            @Override
            public Bootstrap newServerInstance() {
                return server.newInstance();
            }

            @Override
            public Bootstrap newClientInstance() {
                return client.newInstance();
            }

            @Override
            public String toString() {
                return name;
            }
        };
    }

    static ServerBootstrap server(VSocketLink link) {
        return new ServerBootstrap().group(GROUP).channel(VSocketServerSocketChannel.class)
                .childOption(VSocketChannelOption.LINKS, List.of(link));
    }

    static Bootstrap client(VSocketLink link) {
        return new Bootstrap().group(GROUP).channel(VSocketSocketChannel.class)
                .option(VSocketChannelOption.LINKS, List.of(link));
    }
}
