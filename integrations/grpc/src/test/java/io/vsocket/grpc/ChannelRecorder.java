package io.vsocket.grpc;

import io.netty.bootstrap.ChannelInitializerExtension;
import io.netty.channel.Channel;
import io.netty.channel.ServerChannel;

import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Netty's hook into every bootstrap of the JVM (enabled by {@code -Dio.netty.bootstrap.extensions=serviceload},
 * which this module's surefire configuration sets): it sees each channel gRPC's own bootstraps create
 * (a client's connections, a server's listener and the connections it accepts) without anything
 * added to gRPC's builders, so the tests check the channels {@link VSocketGrpc} configured.
 */
public final class ChannelRecorder extends ChannelInitializerExtension {
    private static final Queue<Channel> clients = new ConcurrentLinkedQueue<>();
    private static final Queue<Channel> accepted = new ConcurrentLinkedQueue<>();
    private static final Queue<ServerChannel> listeners = new ConcurrentLinkedQueue<>();

    @Override
    public void postInitializeClientChannel(Channel channel) {
        clients.add(channel);
    }

    @Override
    public void postInitializeServerListenerChannel(ServerChannel channel) {
        listeners.add(channel);
    }

    @Override
    public void postInitializeServerChildChannel(Channel channel) {
        accepted.add(channel);
    }

    static List<Channel> clients() {
        return List.copyOf(clients);
    }

    static List<Channel> accepted() {
        return List.copyOf(accepted);
    }

    static List<ServerChannel> listeners() {
        return List.copyOf(listeners);
    }

    /** Whether Netty loaded this extension: without it the link checks would pass on nothing. */
    static boolean enabled() {
        return "serviceload".equalsIgnoreCase(System.getProperty(EXTENSIONS_SYSTEM_PROPERTY));
    }
}
