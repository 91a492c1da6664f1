package io.vsocket.channel;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.util.concurrent.EventExecutorChooserFactory;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoHandler;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;

/**
 * The one-line swap for {@code NioEventLoopGroup}: a group of event loops, each driven by a
 * {@link VSocketIoHandler}. How long a loop polls its RDMA and shared-memory queues before it blocks
 * adapts by default to what the polling catches (at most {@link VSocketIoHandler#DEFAULT_SPIN_NANOS}):
 * loops that answer each other within microseconds keep spinning, loops whose work comes from
 * threads outside them block at once. A {@link Duration} fixes it instead: zero blocks at once, a
 * long one busy-polls.
 */
public class VSocketEventLoopGroup extends MultiThreadIoEventLoopGroup {

    /** As many loops as Netty's default (twice the cores), default spin. */
    public VSocketEventLoopGroup() {
        this(0);
    }

    public VSocketEventLoopGroup(int nThreads) {
        super(nThreads, VSocketIoHandler.newFactory());
    }

    /** As many loops as Netty's default, on threads from {@code threadFactory}, default spin. */
    public VSocketEventLoopGroup(ThreadFactory threadFactory) {
        this(0, threadFactory);
    }

    public VSocketEventLoopGroup(int nThreads, ThreadFactory threadFactory) {
        super(nThreads, threadFactory, VSocketIoHandler.newFactory());
    }

    /**
     * Loops run by {@code executor} (one of its tasks per loop, for the loop's life), as NIO's and epoll's
     * groups take one; default spin.
     */
    public VSocketEventLoopGroup(int nThreads, Executor executor) {
        super(nThreads, executor, VSocketIoHandler.newFactory());
    }

    /** As {@link #VSocketEventLoopGroup(int, Executor)}, with Netty's choice of the loop for each new channel. */
    public VSocketEventLoopGroup(int nThreads, Executor executor, EventExecutorChooserFactory chooserFactory) {
        super(nThreads, executor, VSocketIoHandler.newFactory(), chooserFactory);
    }

    public VSocketEventLoopGroup(int nThreads, Executor executor, Duration spin) {
        super(nThreads, executor, VSocketIoHandler.newFactory(spin));
    }

    public VSocketEventLoopGroup(int nThreads, Duration spin) {
        super(nThreads, VSocketIoHandler.newFactory(spin));
    }

    public VSocketEventLoopGroup(int nThreads, ThreadFactory threadFactory, Duration spin) {
        super(nThreads, threadFactory, VSocketIoHandler.newFactory(spin));
    }

    /**
     * The factory of vsocket's event loops, for Netty 4.2's own idiom
     * ({@code new MultiThreadIoEventLoopGroup(VSocketEventLoopGroup.ioHandlerFactory())}, as with
     * {@code EpollIoHandler.newFactory()}); the loops are the same as this group's, default spin. Here
     * because the loop's package is not exported on the module path.
     */
    public static IoHandlerFactory ioHandlerFactory() {
        return VSocketIoHandler.newFactory();
    }

    /** As {@link #ioHandlerFactory()}, with the spin fixed as {@link #VSocketEventLoopGroup(int, Duration)} fixes it. */
    public static IoHandlerFactory ioHandlerFactory(Duration spin) {
        return VSocketIoHandler.newFactory(spin);
    }

    /**
     * Whether vsocket channels can run on {@code group}'s loops: a {@code VSocketEventLoopGroup}, or
     * any {@link IoEventLoopGroup} whose loops are {@link VSocketIoHandler}s. Framework integrations
     * check it up front, since a channel on a foreign group fails only at registration, far from
     * the cause.
     */
    public static boolean runsVSocket(EventLoopGroup group) {
        return group instanceof IoEventLoopGroup io && io.isCompatible(VSocketIoHandle.class);
    }
}
