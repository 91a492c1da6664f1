package io.vsocket.testsuite.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.EventLoopGroup;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.netty.testsuite.transport.socket.SocketTestPermutation;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;

import java.util.List;

/**
 * Netty's socket testsuite on vsocket: a vsocket server with a vsocket client. One group serves
 * every test, as Netty's own permutations do.
 */
final class VSocketTestPermutation extends SocketTestPermutation {
    static final VSocketTestPermutation INSTANCE = new VSocketTestPermutation();

    private static final EventLoopGroup GROUP =
            new VSocketEventLoopGroup(NUM_THREADS, new DefaultThreadFactory("testsuite-vsocket", true));

    @Override
    public List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> socket() {
        return combo(serverSocket(), clientSocket());
    }

    @Override
    public List<BootstrapFactory<ServerBootstrap>> serverSocket() {
        return List.of(() -> new ServerBootstrap().group(GROUP).channel(VSocketServerSocketChannel.class));
    }

    @Override
    public List<BootstrapFactory<Bootstrap>> clientSocket() {
        return List.of(() -> new Bootstrap().group(GROUP).channel(VSocketSocketChannel.class));
    }
}
