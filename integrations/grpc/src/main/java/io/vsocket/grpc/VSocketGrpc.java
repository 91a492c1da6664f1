package io.vsocket.grpc;

import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;

import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * gRPC-Java on vsocket: one call configures a {@link NettyServerBuilder} or {@link NettyChannelBuilder}
 * (grpc-netty, the unshaded artifact: the shaded one carries a Netty of its own that vsocket's
 * channels cannot run on).
 *
 * <pre>{@code
 * Server server = VSocketGrpc.server(50051).addService(new GreeterImpl()).build().start();
 * ManagedChannel channel = VSocketGrpc.channel("localhost", 50051).usePlaintext().build();
 * }</pre>
 *
 * <p>What it sets: the channel classes ({@link VSocketServerSocketChannel}, {@link VSocketSocketChannel})
 * and the event loops, all of them together, because gRPC refuses a channel type without its group
 * (the server wants channel type, boss and worker group, or none of the three; a channel wants channel
 * type and group, or neither). Where this machine has an RDMA device, connections also get the
 * allocator a vsocket channel would pick itself ({@link RegisteredAllocator#shared()}, whose buffers the
 * rdma link sends without a copy): gRPC sets its own allocator on every channel it makes, which would
 * otherwise replace it. Without an RDMA device gRPC's allocator stays.
 *
 * <p>Who owns the loops: gRPC never shuts down a group it was given, so
 * <ul>
 *   <li>the one-argument forms use {@link #sharedGroup()}: one group for the whole JVM, created on
 *       first use, with daemon threads, never shut down (like gRPC's own default loops, it costs
 *       nothing once idle and does not keep the JVM alive);</li>
 *   <li>the forms that take a group use the caller's, and the caller shuts it down after the servers
 *       and channels on it have terminated.</li>
 * </ul>
 */
public final class VSocketGrpc {
    private VSocketGrpc() {
    }

    /** A server on every address at {@code port}, on vsocket and the shared group. */
    public static NettyServerBuilder server(int port) {
        return configure(NettyServerBuilder.forPort(port));
    }

    /** A server on {@code address}, on vsocket and the shared group. */
    public static NettyServerBuilder server(SocketAddress address) {
        return configure(NettyServerBuilder.forAddress(address));
    }

    /** A channel to {@code host:port}, on vsocket and the shared group. */
    public static NettyChannelBuilder channel(String host, int port) {
        return configure(NettyChannelBuilder.forAddress(host, port));
    }

    /** Sets {@code builder}'s channel type, boss and worker groups ({@link #sharedGroup()}) for vsocket. */
    public static NettyServerBuilder configure(NettyServerBuilder builder) {
        return configure(builder, sharedGroup());
    }

    /**
     * Sets {@code builder} for vsocket with {@code group} for both accepting and serving connections
     * (accepting is one registration per connection; a loop of its own for it buys nothing).
     */
    public static NettyServerBuilder configure(NettyServerBuilder builder, EventLoopGroup group) {
        return configure(builder, group, group);
    }

    /** Sets {@code builder} for vsocket with the caller's accept ({@code boss}) and connection loops. */
    public static NettyServerBuilder configure(NettyServerBuilder builder, EventLoopGroup boss, EventLoopGroup workers) {
        builder.channelType(VSocketServerSocketChannel.class)
                .bossEventLoopGroup(requireVSocket(boss))
                .workerEventLoopGroup(requireVSocket(workers));
        ByteBufAllocator allocator = registeredAllocator();
        if (allocator != null) {
            builder.withChildOption(ChannelOption.ALLOCATOR, allocator);
        }
        return builder;
    }

    /** Sets {@code builder}'s channel type and group ({@link #sharedGroup()}) for vsocket. */
    public static NettyChannelBuilder configure(NettyChannelBuilder builder) {
        return configure(builder, sharedGroup());
    }

    /** Sets {@code builder}'s channel type and group (the caller's) for vsocket. */
    public static NettyChannelBuilder configure(NettyChannelBuilder builder, EventLoopGroup group) {
        // The address type tells gRPC which name resolvers fit: vsocket connects to IP addresses.
        builder.channelType(VSocketSocketChannel.class, InetSocketAddress.class)
                .eventLoopGroup(requireVSocket(group));
        ByteBufAllocator allocator = registeredAllocator();
        if (allocator != null) {
            builder.withOption(ChannelOption.ALLOCATOR, allocator);
        }
        return builder;
    }

    /**
     * The group the one-argument forms use: one loop per core (vsocket's loops spin briefly before they
     * block, so more loops than cores would take time from gRPC's executor threads), daemon threads
     * named {@code vsocket-grpc-N}. It lives as long as the JVM; do not shut it down.
     */
    public static EventLoopGroup sharedGroup() {
        return SharedGroup.INSTANCE;
    }

    private static final class SharedGroup {
        static final EventLoopGroup INSTANCE = new VSocketEventLoopGroup(Runtime.getRuntime().availableProcessors(),
                new DefaultThreadFactory("vsocket-grpc", true));
    }

    /** The channels' own default where it is the registered allocator, else null (keep gRPC's). */
    private static ByteBufAllocator registeredAllocator() {
        ByteBufAllocator allocator = VSocketLinks.defaultAllocator();
        return allocator instanceof RegisteredAllocator ? allocator : null;
    }

    /** A vsocket channel on another transport's group fails at registration, far from the cause. */
    private static EventLoopGroup requireVSocket(EventLoopGroup group) {
        if (!VSocketEventLoopGroup.runsVSocket(group)) {
            throw new IllegalArgumentException("not a vsocket event loop group: " + group
                    + " (vsocket channels run on VSocketEventLoopGroup)");
        }
        return group;
    }
}
