package io.vsocket.examples.redis;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.handler.codec.redis.RedisArrayAggregator;
import io.netty.handler.codec.redis.RedisBulkStringAggregator;
import io.netty.handler.codec.redis.RedisDecoder;
import io.netty.handler.codec.redis.RedisEncoder;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;

import java.net.InetSocketAddress;

/**
 * A Redis-protocol key-value server on vsocket, built on Netty's {@code codec-redis}: Redis clients
 * on this host reach it over shared memory if they run on vsocket (Lettuce with
 * {@code io.vsocket.lettuce.VSocketRedisClient}), and over TCP if they are plain ({@code redis-cli}).
 * The commands are {@link RedisCommandHandler}'s.
 *
 * <pre>
 * examples/run redis-server [port]        (default 6380; then e.g. redis-cli -p 6380 SET k v)
 * </pre>
 */
public final class RedisServer implements AutoCloseable {
    private final Channel listener;

    private RedisServer(Channel listener) {
        this.listener = listener;
    }

    /** Listens on {@code address} with {@code group}'s loops (the caller shuts the group down). */
    public static RedisServer start(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        return start(group, VSocketServerSocketChannel.class, address);
    }

    /**
     * Listens with a server channel of {@code channelType} on {@code group} (for comparing
     * transports: the same server on Netty's epoll, say).
     */
    public static RedisServer start(EventLoopGroup group, Class<? extends ServerChannel> channelType,
                                    InetSocketAddress address) throws InterruptedException {
        RedisCommandHandler commands = new RedisCommandHandler();
        Channel listener = new ServerBootstrap()
                .group(group)
                .channel(channelType)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(
                                new RedisDecoder(true),          // RESP, and inline commands as typed by hand
                                new RedisBulkStringAggregator(),
                                new RedisArrayAggregator(),
                                new RedisEncoder(),
                                commands);
                    }
                })
                .bind(address).sync().channel();
        return new RedisServer(listener);
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    /** Stops listening; open connections stay until their clients close them or the group shuts down. */
    @Override
    public void close() throws InterruptedException {
        listener.close().sync();
    }

    public static void main(String[] args) throws InterruptedException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 6380;
        EventLoopGroup group = new VSocketEventLoopGroup();
        try {
            RedisServer server = start(group, new InetSocketAddress(port));
            System.out.println("vsocket redis server on " + server.address() + " (Ctrl-C stops it)");
            server.listener.closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }
}
