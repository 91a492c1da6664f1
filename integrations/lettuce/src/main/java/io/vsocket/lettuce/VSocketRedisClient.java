package io.vsocket.lettuce;

import io.lettuce.core.ConnectionBuilder;
import io.lettuce.core.ConnectionEvents;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.BootstrapConfig;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.util.AttributeKey;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import reactor.core.publisher.Mono;

import java.net.SocketAddress;
import java.util.Map;
import java.util.Objects;

/**
 * Lettuce's {@link RedisClient}, connecting with {@link VSocketSocketChannel}s on the vsocket loops of
 * its {@link ClientResources} ({@link VSocketLettuce#clientResources()}). Everything else is Lettuce's:
 * connections, pub/sub, sentinel, reconnects, SSL, the synchronous, asynchronous and reactive APIs.
 *
 * <p>Why a subclass: Lettuce has no transport option. It takes the channel class from its static
 * {@code Transports} (NIO, or epoll where that is on the class path) and sets it, with the group, on a
 * fresh Netty {@code Bootstrap} for every connection; Netty refuses to set either twice, so a
 * {@code NettyCustomizer} cannot change them ({@code AbstractRedisClient.channelType(ConnectionBuilder,
 * ConnectionPoint)} looks like the hook for this, but {@code RedisClient} 7.7 never calls it). This
 * client lets Lettuce build that bootstrap (options,
 * attributes, resolver, the group from the resources' provider) and then moves it onto an equal
 * bootstrap whose channel is vsocket's, before Lettuce connects or hands it to its reconnect watchdog.
 * Two of Lettuce's settings are left behind on the way: its fixed {@code ALLOCATOR}
 * ({@code ByteBufAllocator.DEFAULT}; the channel's own default is the same, or, where an RDMA device
 * is, the registered allocator the rdma link sends from without a copy), and its default DNS resolver
 * if the resources still have it (it needs a NIO datagram channel on the connection's loop; the JDK's
 * resolver takes its place).
 *
 * <p>The TCP options Lettuce sets through epoll's, io_uring's or NIO's own option constants (its
 * {@code SocketOptions} extended keep-alive, on by default, and TCP user timeout) are taken by vsocket's
 * channel as its own ({@link VSocketChannelOption#TCP_KEEPIDLE} and the rest), which apply to the
 * connection's TCP socket as epoll applies them. Not possible on vsocket: Unix domain socket URIs ({@code redis-socket://}).
 * {@code RedisClusterClient} is not covered (it would need the same in a subclass of its own).
 */
public class VSocketRedisClient extends RedisClient {

    protected VSocketRedisClient(ClientResources resources, RedisURI redisURI) {
        super(Objects.requireNonNull(resources, "resources: use VSocketLettuce.clientResources()"), redisURI);
    }

    /** A client of {@code redisURI} on {@code resources}, which must hand out vsocket loops. */
    public static VSocketRedisClient create(ClientResources resources, RedisURI redisURI) {
        return new VSocketRedisClient(resources, Objects.requireNonNull(redisURI, "redisURI"));
    }

    /** A client of {@code uri} ({@code redis://host:port}, ...) on {@code resources}. */
    public static VSocketRedisClient create(ClientResources resources, String uri) {
        return create(resources, RedisURI.create(uri));
    }

    @Override
    protected void connectionBuilder(Mono<SocketAddress> socketAddressSupplier, ConnectionBuilder connectionBuilder,
                                     ConnectionEvents connectionEvents, RedisURI redisURI) {
        if (redisURI.getSocket() != null) {
            throw new UnsupportedOperationException("vsocket connects to host and port; it has no Unix domain socket "
                    + "channel (" + redisURI.getSocket() + ")");
        }
        super.connectionBuilder(socketAddressSupplier, connectionBuilder, connectionEvents, redisURI);
        connectionBuilder.bootstrap(onVSocket(connectionBuilder.bootstrap()));
    }

    /** A bootstrap like Lettuce's, with vsocket's channel class (see the class comment for what differs). */
    @SuppressWarnings("unchecked")
    static Bootstrap onVSocket(Bootstrap lettuces) {
        BootstrapConfig config = lettuces.config();
        EventLoopGroup group = config.group();
        if (!VSocketEventLoopGroup.runsVSocket(group)) {
            throw new IllegalStateException("the client resources hand out " + group + ", not vsocket event loops: "
                    + "create them with VSocketLettuce.clientResources() or VSocketLettuce.configure(builder)");
        }
        Bootstrap b = new Bootstrap().group(group).channel(VSocketSocketChannel.class);
        for (Map.Entry<ChannelOption<?>, Object> option : config.options().entrySet()) {
            if (option.getKey() != ChannelOption.ALLOCATOR) {
                b.option((ChannelOption<Object>) option.getKey(), option.getValue());
            }
        }
        for (Map.Entry<AttributeKey<?>, Object> attr : config.attrs().entrySet()) {
            b.attr((AttributeKey<Object>) attr.getKey(), attr.getValue());
        }
        AddressResolverGroup<?> resolver = config.resolver();
        if (resolver == null) {
            b.disableResolver();
        } else {
            b.resolver(resolver == DefaultClientResources.DEFAULT_ADDRESS_RESOLVER_GROUP
                    ? DefaultAddressResolverGroup.INSTANCE : resolver);
        }
        if (config.localAddress() != null) {
            b.localAddress(config.localAddress());
        }
        if (config.remoteAddress() != null) {
            b.remoteAddress(config.remoteAddress());
        }
        if (config.handler() != null) {
            b.handler(config.handler());
        }
        return b;
    }
}
