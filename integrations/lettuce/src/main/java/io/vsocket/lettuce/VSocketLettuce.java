package io.vsocket.lettuce;

import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.netty.resolver.DefaultAddressResolverGroup;

/**
 * The {@link ClientResources} a {@link VSocketRedisClient} runs on:
 *
 * <pre>{@code
 * ClientResources resources = VSocketLettuce.clientResources();
 * RedisClient client = VSocketRedisClient.create(resources, "redis://localhost:6379");
 * ...
 * client.shutdown();      // releases the vsocket loops (the last client to go shuts them down)
 * resources.shutdown();   // Lettuce's timers and executors
 * }</pre>
 *
 * <p>Two settings differ from Lettuce's defaults. The event loops come from a
 * {@link VSocketEventLoopGroupProvider}. The address resolver is Netty's
 * {@link DefaultAddressResolverGroup} (the JDK's {@code InetAddress} lookup, as Reactor Netty's default
 * is): Lettuce's own default is Netty's DNS resolver, which opens a {@code NioDatagramChannel} on the
 * connecting channel's event loop, and a vsocket loop cannot run a NIO channel (a
 * {@code DnsAddressResolverGroup} built with {@code datagramChannelType(VSocketDatagramChannel.class)}
 * would run there; these resources keep to the JDK's, which needs nothing configured). The JDK lookup runs on the loop and blocks it while it asks; an IP address or
 * a name in {@code /etc/hosts} costs nothing, and the JDK caches answers.
 */
public final class VSocketLettuce {
    private VSocketLettuce() {
    }

    /** Lettuce's default resources, with vsocket's loops and the JDK's resolver. */
    public static ClientResources clientResources() {
        return configure(ClientResources.builder()).build();
    }

    /** Sets {@code builder}'s event loops (Lettuce's default thread count) and resolver for vsocket. */
    public static ClientResources.Builder configure(ClientResources.Builder builder) {
        return configure(builder, DefaultClientResources.DEFAULT_IO_THREADS);
    }

    /** Sets {@code builder}'s event loops ({@code threads} of them) and resolver for vsocket. */
    public static ClientResources.Builder configure(ClientResources.Builder builder, int threads) {
        return builder.eventLoopGroupProvider(new VSocketEventLoopGroupProvider(threads))
                .addressResolverGroup(DefaultAddressResolverGroup.INSTANCE);
    }
}
