package io.vsocket.link.rdma;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketLoopPoller;
import io.vsocket.verbs.VerbsException;

/**
 * An event loop's rdma completion queues (one context's), in the loop: polled while the loop spins,
 * armed before it blocks, and their completion channel's descriptor in the loop's epoll set, so the one
 * {@code epoll_wait} also wakes for completions. The loop's handler owns it.
 */
final class RdmaCompletions implements VSocketLoopPoller, VSocketIoHandle {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaCompletions.class);

    private final RdmaContext context;
    private boolean broken;

    RdmaCompletions(RdmaContext context) {
        this.context = context;
    }

    RdmaContext context() {
        return context;
    }

    @Override
    public int poll() {
        if (broken) {
            return 0;
        }
        try {
            context.poll();
            // Also what other polls found since (a channel polls before it writes): nothing may wait
            // for a completion that already came.
            return context.dispatch();
        } catch (VerbsException e) {
            broke(e);
            return 0;
        }
    }

    @Override
    public boolean armAndCheck() {
        if (broken) {
            return false;
        }
        try {
            boolean arrived = context.armAndCheck();
            return context.dispatch() > 0 || arrived;
        } catch (VerbsException e) {
            broke(e);
            return false;
        }
    }

    /** A completion event: take it, then poll (the queue stays disarmed until the loop next blocks). */
    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        if (broken) {
            return;
        }
        try {
            context.takeEvents();
        } catch (VerbsException e) {
            broke(e);
            return;
        }
        poll();
    }

    /**
     * Polling the completion queue itself failed: the device is gone or the queue overran. Every link
     * of the loop fails with it; the loop stops polling a queue that cannot be polled.
     */
    private void broke(VerbsException e) {
        broken = true;
        logger.warn("the rdma completion queue of this event loop failed; its rdma links stop", e);
        // Each link fails now (and goes on over tcp where its channel allows), rather than when its
        // peer's control connection ends or its writes time out.
        context.failLinks(e);
    }

    @Override
    public int fd() {
        return context.completionFd();
    }

    @Override
    public void close() {
        // The handler closes the context after every channel (and its link) is gone.
    }
}
