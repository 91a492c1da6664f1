package io.vsocket.lettuce;

import io.lettuce.core.resource.EventLoopGroupProvider;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import io.vsocket.channel.VSocketEventLoopGroup;

import java.util.concurrent.TimeUnit;

/**
 * Lettuce's source of event loops ({@code ClientResources.eventLoopGroupProvider}), answering with one
 * {@link VSocketEventLoopGroup}. Lettuce asks for the group class of the transport it would use itself
 * (NIO's {@code MultiThreadIoEventLoopGroup}, or epoll's where that is on the class path) and keeps the
 * answer as a plain {@code EventLoopGroup}; every such request gets the vsocket group.
 *
 * <p>Lifetime, as Lettuce's own provider: each client that connects allocates the group once and
 * releases it when it shuts down; the last release shuts the group down, and the next allocation
 * starts a new one. {@link #shutdown} ends it at once. Lettuce never calls {@code shutdown} on a
 * provider handed to {@code ClientResources.Builder.eventLoopGroupProvider} (it takes such a provider
 * to be shared), so shut the clients down, or call it yourself. The threads are daemons.
 */
public final class VSocketEventLoopGroupProvider implements EventLoopGroupProvider {
    private final int threads;
    private EventLoopGroup group;
    private int users;
    private boolean shutdown;

    /** A provider of a group of {@code threads} loops, threads named {@code lettuce-vsocket-N}. */
    public VSocketEventLoopGroupProvider(int threads) {
        if (threads <= 0) {
            throw new IllegalArgumentException("threads must be positive: " + threads);
        }
        this.threads = threads;
    }

    @Override
    @SuppressWarnings("unchecked") // every type Lettuce asks for is read back as EventLoopGroup
    public synchronized <T extends EventLoopGroup> T allocate(Class<T> type) {
        if (shutdown) {
            throw new IllegalStateException("this vsocket event loop provider is shut down");
        }
        if (group == null) {
            group = new VSocketEventLoopGroup(threads, new DefaultThreadFactory("lettuce-vsocket", true));
        }
        users++;
        return (T) group;
    }

    @Override
    public int threadPoolSize() {
        return threads;
    }

    @Override
    public synchronized Future<Boolean> release(EventExecutorGroup eventLoopGroup, long quietPeriod, long timeout,
                                                TimeUnit unit) {
        if (eventLoopGroup != group || users == 0) {
            // not ours, or released already: nothing to do, as Lettuce's own provider answers
            return GlobalEventExecutor.INSTANCE.newSucceededFuture(false);
        }
        if (--users > 0) {
            return GlobalEventExecutor.INSTANCE.newSucceededFuture(true);
        }
        group = null;
        return shutdown(eventLoopGroup, quietPeriod, timeout, unit);
    }

    @Override
    public synchronized Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit timeUnit) {
        shutdown = true;
        EventLoopGroup current = group;
        group = null;
        users = 0;
        if (current == null) {
            return GlobalEventExecutor.INSTANCE.newSucceededFuture(true);
        }
        return shutdown(current, quietPeriod, timeout, timeUnit);
    }

    private static Future<Boolean> shutdown(EventExecutorGroup group, long quietPeriod, long timeout, TimeUnit unit) {
        Promise<Boolean> done = GlobalEventExecutor.INSTANCE.newPromise();
        group.shutdownGracefully(quietPeriod, timeout, unit).addListener(f -> {
            if (f.isSuccess()) {
                done.setSuccess(true);
            } else {
                done.setFailure(f.cause());
            }
        });
        return done;
    }

    @Override
    public String toString() {
        return "VSocketEventLoopGroupProvider{threads=" + threads + "}";
    }
}
