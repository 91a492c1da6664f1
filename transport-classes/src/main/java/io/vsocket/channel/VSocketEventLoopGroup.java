package io.vsocket.channel;

import io.netty.channel.MultiThreadIoEventLoopGroup;

import java.time.Duration;
import java.util.concurrent.ThreadFactory;

/**
 * The one-line swap for {@code NioEventLoopGroup}: a group of event loops, each driven by a
 * {@link VSocketIoHandler}. The spin time (how long a loop polls its RDMA and shared-memory queues
 * before it blocks) defaults to {@link VSocketIoHandler#DEFAULT_SPIN_NANOS}; zero is allowed.
 */
public class VSocketEventLoopGroup extends MultiThreadIoEventLoopGroup {

    /** As many loops as Netty's default (twice the cores), default spin. */
    public VSocketEventLoopGroup() {
        this(0);
    }

    public VSocketEventLoopGroup(int nThreads) {
        super(nThreads, VSocketIoHandler.newFactory());
    }

    public VSocketEventLoopGroup(int nThreads, ThreadFactory threadFactory) {
        super(nThreads, threadFactory, VSocketIoHandler.newFactory());
    }

    public VSocketEventLoopGroup(int nThreads, Duration spin) {
        super(nThreads, VSocketIoHandler.newFactory(spin));
    }
}
