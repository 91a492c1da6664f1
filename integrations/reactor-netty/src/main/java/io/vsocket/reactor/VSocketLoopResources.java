package io.vsocket.reactor;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import reactor.core.publisher.Mono;
import reactor.netty.resources.LoopResources;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Reactor Netty's {@link LoopResources} on vsocket: {@code HttpServer.create().runOn(resources)} and
 * {@code HttpClient.create().runOn(resources)} (and the Tcp ones) get {@link VSocketEventLoopGroup}s
 * and vsocket channels, with nothing else changed.
 *
 * <p>Reactor Netty (from 1.3.3) picks a group's channel classes by asking whether the group is one
 * of Netty's own transports and refuses any other ("Unsupported event loop group"); a transport of
 * its own plugs in here instead, by answering {@link #onChannel} and {@link #onChannelClass}. The
 * groups follow {@link LoopResources#create(String)}'s shape: one worker group shared by servers and
 * clients (clients colocated: a connection made from a loop thread stays on that loop, as Reactor
 * Netty's defaults do), an optional separate group for servers' accept loops, created on first use
 * and shut down by {@link #disposeLater}.
 *
 * <p>A {@code DatagramChannel} (Reactor Netty's {@code UdpServer}/{@code UdpClient}, or a DNS resolver
 * set with {@code .resolver(...)}) is a {@link VSocketDatagramChannel}; other channel types are
 * refused with an exception saying so.
 */
public final class VSocketLoopResources implements LoopResources {
    private final String prefix;
    private final int selectCount;
    private final int workerCount;
    private final boolean daemon;
    private final boolean colocate;
    /** The loops' spin before they block; null: the group's default. */
    private final Duration spin;
    private final AtomicReference<EventLoopGroup> workers = new AtomicReference<>();
    private final AtomicReference<EventLoopGroup> colocated = new AtomicReference<>();
    private final AtomicReference<EventLoopGroup> selectors = new AtomicReference<>();
    private final AtomicBoolean running = new AtomicBoolean(true);

    private VSocketLoopResources(String prefix, int selectCount, int workerCount, boolean daemon, boolean colocate,
                                 Duration spin) {
        if (prefix == null || prefix.isEmpty()) {
            throw new IllegalArgumentException("prefix must not be empty");
        }
        if (workerCount <= 0) {
            throw new IllegalArgumentException("workerCount must be positive: " + workerCount);
        }
        if (selectCount == 0 || selectCount < -1) {
            throw new IllegalArgumentException("selectCount must be positive, or -1 to share the workers: " + selectCount);
        }
        this.prefix = prefix;
        this.selectCount = selectCount;
        this.workerCount = workerCount;
        this.daemon = daemon;
        this.colocate = colocate;
        this.spin = spin;
    }

    /**
     * Resources with Reactor Netty's default thread count ({@link LoopResources#DEFAULT_IO_WORKER_COUNT}:
     * the cores, at least 4), daemon threads named {@code prefix-vsocket-N}, accept on the workers.
     */
    public static VSocketLoopResources create(String prefix) {
        return new VSocketLoopResources(prefix, -1, DEFAULT_IO_WORKER_COUNT, true, true, null);
    }

    /** Resources with {@code workerCount} loops shared by servers and clients. */
    public static VSocketLoopResources create(String prefix, int workerCount, boolean daemon) {
        return new VSocketLoopResources(prefix, -1, workerCount, daemon, true, null);
    }

    /**
     * Resources with {@code workerCount} loops shared by servers and clients, each spinning exactly
     * {@code spin} before it blocks, instead of the adaptive default (zero blocks at once, a long spin
     * busy-polls; see {@link VSocketEventLoopGroup#VSocketEventLoopGroup(int, Duration)}).
     */
    public static VSocketLoopResources create(String prefix, int workerCount, boolean daemon, Duration spin) {
        return new VSocketLoopResources(prefix, -1, workerCount, daemon, true, java.util.Objects.requireNonNull(spin));
    }

    /**
     * Resources with {@code selectCount} loops of their own for servers' accepts ({@code -1}: on the
     * workers), {@code workerCount} loops for connections, and clients colocated on the workers or not.
     */
    public static VSocketLoopResources create(String prefix, int selectCount, int workerCount, boolean daemon,
                                              boolean colocate) {
        return new VSocketLoopResources(prefix, selectCount, workerCount, daemon, colocate, null);
    }

    /** The loops connections run on; {@code useNative} is moot: vsocket is the transport either way. */
    @Override
    public EventLoopGroup onServer(boolean useNative) {
        return cached(workers, workerCount, "vsocket");
    }

    @Override
    public EventLoopGroup onServerSelect(boolean useNative) {
        return selectCount == -1 ? onServer(useNative) : cached(selectors, selectCount, "select-vsocket");
    }

    @Override
    public EventLoopGroup onClient(boolean useNative) {
        EventLoopGroup group = onServer(useNative);
        if (!colocate) {
            return group;
        }
        EventLoopGroup wrapped = colocated.get();
        if (wrapped == null) {
            colocated.compareAndSet(null, LoopResources.colocate(group));
            wrapped = colocated.get();
        }
        return wrapped;
    }

    @Override
    public <C extends Channel> C onChannel(Class<C> channelType, EventLoopGroup group) {
        Class<? extends C> type = onChannelClass(channelType, group);
        try {
            return type.getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create a " + type.getName(), e);
        }
    }

    @Override
    public <C extends Channel> Class<? extends C> onChannelClass(Class<C> channelType, EventLoopGroup group) {
        requireVSocket(group);
        if (channelType == SocketChannel.class) {
            return VSocketSocketChannel.class.asSubclass(channelType);
        }
        if (channelType == ServerSocketChannel.class) {
            return VSocketServerSocketChannel.class.asSubclass(channelType);
        }
        if (channelType == DatagramChannel.class) {
            return VSocketDatagramChannel.class.asSubclass(channelType);
        }
        throw new UnsupportedOperationException("vsocket has no " + channelType.getSimpleName()
                + " (it has SocketChannel, ServerSocketChannel and DatagramChannel)");
    }

    /** A channel of ours on a group that is not ours would fail at registration, far from the cause. */
    private static void requireVSocket(EventLoopGroup group) {
        EventLoopGroup g = group;
        while (g instanceof Supplier<?> s && s.get() instanceof EventLoopGroup inner && inner != g) {
            g = inner; // Reactor Netty's colocated wrapper
        }
        if (!VSocketEventLoopGroup.runsVSocket(g)) {
            throw new IllegalArgumentException("not a vsocket event loop group: " + group
                    + " (vsocket channels run on VSocketEventLoopGroup)");
        }
    }

    private EventLoopGroup cached(AtomicReference<EventLoopGroup> ref, int threads, String name) {
        EventLoopGroup group = ref.get();
        if (group != null) {
            return group;
        }
        if (!running.get()) {
            throw new IllegalStateException(this + " is disposed");
        }
        DefaultThreadFactory threadFactory = new DefaultThreadFactory(prefix + "-" + name, daemon);
        EventLoopGroup created = spin == null ? new VSocketEventLoopGroup(threads, threadFactory)
                : new VSocketEventLoopGroup(threads, threadFactory, spin);
        if (!ref.compareAndSet(null, created)) {
            created.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            return ref.get();
        }
        if (!running.get()) {
            // disposeLater ran between the check above and the store: it may not have seen this group.
            created.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw new IllegalStateException(this + " is disposed");
        }
        return created;
    }

    @Override
    public boolean daemon() {
        return daemon;
    }

    @Override
    public boolean isDisposed() {
        return !running.get();
    }

    @Override
    public Mono<Void> disposeLater(Duration quietPeriod, Duration timeout) {
        return Mono.defer(() -> {
            if (!running.compareAndSet(true, false)) {
                return Mono.empty();
            }
            List<Mono<Void>> shutdowns = new ArrayList<>();
            for (AtomicReference<EventLoopGroup> ref : List.of(selectors, workers)) {
                EventLoopGroup group = ref.get();
                if (group != null) {
                    shutdowns.add(completion(group.shutdownGracefully(quietPeriod.toMillis(), timeout.toMillis(),
                            TimeUnit.MILLISECONDS)));
                }
            }
            return Mono.when(shutdowns).timeout(timeout.plusSeconds(1), Mono.error(new IllegalStateException(
                    this + " could not be disposed within " + timeout.toMillis() + " ms")));
        });
    }

    private static Mono<Void> completion(Future<?> future) {
        return Mono.create(sink -> future.addListener(f -> {
            if (f.isSuccess()) {
                sink.success();
            } else {
                sink.error(f.cause());
            }
        }));
    }

    @Override
    public String toString() {
        return "VSocketLoopResources{prefix=" + prefix + ", selectCount=" + selectCount + ", workerCount="
                + workerCount + ", daemon=" + daemon + ", colocate=" + colocate + "}";
    }
}
