package io.vsocket.link.rdma;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.Resources;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketLoopPoller;
import io.vsocket.verbs.VerbsException;

import java.io.IOException;

/**
 * An event loop's rdma completion queues (one context's), in the loop: polled while the loop spins,
 * armed before it blocks, and their completion channel's descriptor in the loop's epoll set, so the one
 * {@code epoll_wait} also wakes for completions. The loop's handler owns it.
 */
final class RdmaCompletions implements VSocketLoopPoller, VSocketIoHandle {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaCompletions.class);

    /** How long a context on a removed device waits for its links to go before it closes under them. */
    private static final long LET_GO_NANOS = 10_000_000_000L;

    private final RdmaLoop owner;
    private final RdmaPort port;
    private final RdmaContext context;
    private final Runnable waker;
    private IoRegistration registration;
    private boolean broken;
    /** When this loop saw its device removed (0: not yet). */
    private long removedSince;
    private boolean closed;

    RdmaCompletions(RdmaLoop owner, RdmaPort port, RdmaContext context) {
        this.owner = owner;
        this.port = port;
        this.context = context;
        VSocketIoHandler loop = owner.loop();
        this.waker = loop::wakeup;
    }

    void registered(IoRegistration registration) {
        this.registration = registration;
    }

    RdmaContext context() {
        return context;
    }

    Runnable waker() {
        return waker;
    }

    @Override
    public int poll() {
        if (context.deviceRemoved()) {
            return letGo();
        }
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
        if (context.deviceRemoved()) {
            return letGo() > 0;
        }
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
        if (broken || closed) {
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
        context.queuesBroken(e);
    }

    /**
     * The device is being removed (see {@link DeviceWatch}): the first time, every link fails (and
     * goes on over tcp where its channel allows) and new connections look for a device again; then,
     * once the links have gone (or after {@link #LET_GO_NANOS}), the context closes, so this loop no
     * longer holds the device and its removal can finish.
     */
    private int letGo() {
        if (closed) {
            return 0;
        }
        if (removedSince == 0) {
            removedSince = System.nanoTime();
            owner.forget(port, this);
            context.failLinks(new IOException("the RDMA device " + port.device() + " was removed"));
        }
        int n = 0;
        if (!broken) {
            try {
                // Flushed requests still complete: the failing links count them as they hand over.
                context.poll();
                n = context.dispatch();
            } catch (VerbsException e) {
                broken = true;
            }
        }
        if (context.linkCount() == 0 || System.nanoTime() - removedSince > LET_GO_NANOS) {
            letGoNow();
        }
        return n;
    }

    /** Closes the context of a removed device now (its links, if any are left, go with it). */
    void letGoNow() {
        if (closed) {
            return;
        }
        closed = true;
        owner.loop().removePoller(this);
        if (registration != null) {
            registration.cancel();
        }
        context.device().removeWaker(waker);
        owner.gone(this);
        Resources.closeQuietly(context);
        logger.info("this event loop let go of the removed RDMA device {}", port.device());
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
