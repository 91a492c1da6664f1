package io.vsocket.channel;

import io.netty.channel.AbstractChannel;
import io.netty.channel.Channel;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;

import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * What vsocket's channels share: one {@link NativeSocket} watched by the loop's
 * {@link VSocketIoHandler} through an {@link IoRegistration}, with the epoll interest kept in
 * {@link #flags} (level-triggered: a flag is set only while the channel wants that readiness).
 */
abstract class AbstractVSocketChannel extends AbstractChannel {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(AbstractVSocketChannel.class);

    final NativeSocket socket;
    private IoRegistration registration;
    /**
     * The handler of the loop the channel was last registered with: kept through a
     * {@code deregister()}, as what cannot leave that loop goes on there (see {@link #pinnedTo}).
     */
    private VSocketIoHandler handler;
    /**
     * After a {@code deregister()} that {@link #leaveLoop()} refused: the loop the channel's link
     * (or set-up under way) stayed on, the only one it may be registered with again. Null when it
     * may go anywhere.
     */
    private EventLoop pinnedTo;
    private int flags;
    volatile boolean active;
    volatile InetSocketAddress local;
    volatile InetSocketAddress remote;

    AbstractVSocketChannel(Channel parent, NativeSocket socket, boolean active) {
        super(parent);
        this.socket = socket;
        this.active = active;
    }

    @Override
    public boolean isOpen() {
        return socket.isOpen();
    }

    @Override
    public boolean isActive() {
        return active;
    }

    @Override
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) super.localAddress();
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return (InetSocketAddress) super.remoteAddress();
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remote;
    }

    @Override
    protected boolean isCompatible(EventLoop loop) {
        if (!(loop instanceof IoEventLoop io) || !io.isCompatible(AbstractVSocketUnsafe.class)) {
            return false;
        }
        if (pinnedTo != null && loop != pinnedTo) {
            // Netty's register() fails with "incompatible event loop type" here: say what it means.
            logger.warn("{} cannot move to {}: {}; it may be registered again on {} only", this, loop,
                    whyPinned(), pinnedTo);
            return false;
        }
        return true;
    }

    @Override
    protected void doRegister(ChannelPromise promise) {
        ((IoEventLoop) eventLoop()).register((AbstractVSocketUnsafe) unsafe()).addListener(f -> {
            if (f.isSuccess()) {
                registration = (IoRegistration) f.getNow();
                boolean again = handler != null;
                handler = registration.attachment();
                pinnedTo = null;
                submitFlags();
                if (again) {
                    loopJoined();
                }
                registered(promise);
            } else {
                promise.setFailure(f.cause());
            }
        });
    }

    @Override
    protected void doDeregister() {
        IoRegistration r = registration;
        if (r != null) {
            registration = null;
            r.cancel();
            if (isOpen()) {
                // deregister() of an open channel, as Netty allows, to register it with another loop.
                pinnedTo = leaveLoop() ? null : eventLoop();
            }
        }
    }

    /**
     * Out of the loop's epoll set before a close that runs off the loop ({@code prepareToClose}): the
     * later deregistration finds nothing to do.
     */
    void leaveEpollSet() {
        IoRegistration r = registration;
        if (r != null) {
            registration = null;
            flags = 0;
            r.cancel();
        }
    }

    /**
     * The open channel leaves its loop ({@code deregister()}): true when what it runs there besides
     * its descriptor (a link's pollers, timers, watched descriptors) let go and goes on under the
     * loop it is registered with next ({@link #loopJoined()}); false when it stays on this loop, which
     * is then the only one the channel may be registered with again ({@link #whyPinned()} says why).
     */
    boolean leaveLoop() {
        return true;
    }

    /**
     * Registered again after a {@code deregister()}: what {@link #leaveLoop()} let go resumes on this
     * loop (also called back on the loop it was pinned to, where nothing left).
     */
    void loopJoined() {
    }

    /** Why {@link #leaveLoop()} could not let go, for the error of a registration with another loop. */
    String whyPinned() {
        return "what it runs on its loop cannot leave it";
    }

    /**
     * Called on the loop once the channel's descriptor is registered: completes {@code promise}, which
     * runs the pipeline's {@code handlerAdded}, {@code channelRegistered} and, if active,
     * {@code channelActive}. A channel may complete it later (an accepted stream channel: once its
     * hello has picked the link).
     */
    void registered(ChannelPromise promise) {
        promise.setSuccess();
    }

    /** The handler of the loop the channel is (or, deregistered, was last) registered with. */
    final VSocketIoHandler ioHandler() {
        return handler;
    }

    final boolean isFlagSet(int flag) {
        return (flags & flag) != 0;
    }

    final void setFlag(int flag) {
        if ((flags & flag) != flag) {
            flags |= flag;
            submitFlags();
        }
    }

    final void clearFlag(int flag) {
        if ((flags & flag) != 0) {
            flags &= ~flag;
            submitFlags();
        }
    }

    private void submitFlags() {
        IoRegistration r = registration;
        if (r != null && r.isValid() && socket.isOpen()) {
            r.submit(VSocketIoOps.of(flags));
        }
    }

    /** Auto-read was switched off: stop reading until {@code read()} is called. */
    final void clearReadPending() {
        Runnable clear = () -> {
            ((AbstractVSocketUnsafe) unsafe()).readPending = false;
            stopReading();
        };
        if (!isRegistered()) {
            return;
        }
        onLoop(clear);
    }

    /** Runs {@code task} on the channel's loop: at once when called there. */
    final void onLoop(Runnable task) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            task.run();
        } else {
            loop.execute(task);
        }
    }

    /** Stops watching for inbound data until the next {@code read()}. */
    void stopReading() {
        clearFlag(VSocketIoOps.IN);
    }

    @Override
    protected void doClose() throws Exception {
        active = false;
        // Out of the epoll set while the descriptor is still ours: once closed, its number can be
        // reused by a new socket at once, and a removal later would remove that socket instead.
        IoRegistration r = registration;
        if (r != null && r.isValid() && flags != 0 && socket.isOpen()) {
            flags = 0;
            r.submit(VSocketIoOps.NONE);
        }
        socket.close();
    }

    /** The unsafe half that the event loop calls back: dispatches readiness in the order Netty's epoll does. */
    abstract class AbstractVSocketUnsafe extends AbstractUnsafe implements VSocketIoHandle {
        boolean readPending;

        @Override
        public int fd() {
            return socket.fd();
        }

        @Override
        public void handle(IoRegistration registration, IoEvent ioEvent) {
            VSocketIoEvent event = (VSocketIoEvent) ioEvent;
            int ready = event.flags();
            // Writability (or an error) first: it may complete a connect that a read would otherwise fail.
            if ((ready & (VSocketIoOps.OUT | VSocketIoOps.ERR)) != 0) {
                outReady();
            }
            // Then everything readable, before acting on a hang-up, so no data is lost.
            if ((ready & (VSocketIoOps.IN | VSocketIoOps.ERR)) != 0 && isOpen()) {
                inReady();
            }
            if ((ready & (VSocketIoOps.RDHUP | VSocketIoOps.HUP)) != 0 && isOpen()) {
                hangUpReady();
            }
        }

        abstract void inReady();

        /** Writes what is flushed now (AbstractUnsafe's flush0, for a channel that held its writes back). */
        final void flush0Now() {
            flush0();
        }

        void outReady() {
        }

        void hangUpReady() {
            inReady();
        }

        @Override
        public void close() {
            close(voidPromise());
        }

        /**
         * The loop ended without closing the channel (a loop that runs no shut-down hooks, where a shut-down with
         * no quiet period that begins after its last I/O turn skips the handler's {@code prepareToDestroy}; Netty's
         * own loops run the handler's hook, which closes the channel first). Netty's own close, on
         * the loop's thread still, so that the close future completes and writes still queued fail: with
         * only its descriptors closed, an application waiting on {@code closeFuture()} waited for good.
         * Netty cannot run {@code channelInactive} on the ended loop (it logs that it could not).
         */
        @Override
        public void closeAfterLoopEnded() throws Exception {
            try {
                if (isOpen()) {
                    closeAsLoopEnded();
                }
            } finally {
                doClose(); // (what Netty's close did not get to; closing twice is nothing)
            }
        }

        /** Netty's close of a channel whose loop ended (see {@link #closeAfterLoopEnded()}). */
        void closeAsLoopEnded() {
            close(voidPromise());
        }
    }
}
