package io.vsocket.link.rdma;

import io.netty.channel.EventLoop;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.LinkHost;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * The rdma link under a channel: the peer's ring written over an RDMA RC queue pair. The loop's
 * completion queue wakes it (the link's listener); nothing looks at it between completions, so a
 * read asked for, or bytes that came with the peer's first message, are looked at from a task.
 */
public final class RdmaConnectionLink extends RingConnectionLink {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaConnectionLink.class);

    /** The longest a closed rdma link waits for its end of output to reach the peer. */
    static final long LINGER_MILLIS = 10_000;

    private final RdmaLink rdma;

    public RdmaConnectionLink(LinkHost host, NativeSocket socket, LinkSettings config, RdmaLink rdma) {
        super(host, socket, config, rdma);
        this.rdma = rdma;
    }

    /** Never: the queue pair completes on its loop's completion queue, which only that loop polls. */
    @Override
    public boolean leaveLoop() {
        return false;
    }

    @Override
    protected VSocketLink ringKind() {
        return VSocketLink.RDMA;
    }

    @Override
    public void start(boolean reading) {
        super.start(reading);
        rdma.listener(this::ready);
        rdma.timersOn(host.eventLoop());
        if (reading) {
            // Bytes may have come with the peer's first message: no completion will tell of them again.
            readyLater();
        }
    }

    @Override
    public void readInterest(boolean wanted) {
        super.readInterest(wanted);
        if (wanted) {
            // No poller looks at an rdma link between its completions: look once now.
            readyLater();
        }
    }

    @Override
    public long bytesSentInPlace() {
        return closed ? 0 : rdma.inPlaceBytes();
    }

    @Override
    protected void beforeWrite() throws IOException {
        // Completions that came while the loop was busy elsewhere (a reset, credit) count now.
        rdma.pollCompletions();
    }

    @Override
    protected boolean peerLeft() {
        return rdma.peerReset();
    }

    @Override
    protected boolean peerReset() {
        return rdma.peerReset();
    }

    /**
     * The end travels on the queue pair, a path apart from TCP's: it may still be on its way, so it
     * gets a grace period (the hello timeout) before the peer is declared dead.
     */
    @Override
    protected void controlEndedFirst() {
        host.eventLoop().schedule(() -> {
            if (!closed && host.isOpen() && !peerOutputDone()) {
                peerDied();
            }
        }, config.getHelloTimeoutMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * A peer that ends its output and then resets (shuts its output, then closes with {@code SO_LINGER}
     * 0) sends its end on the queue pair and its reset on TCP, which may come first: the reset is held
     * for the same grace, and is no error if the end comes (as on epoll, where TCP keeps the end ahead
     * of the reset). A peer that resets without its end sends its abort on the queue pair, which ends
     * the wait at once, as does the path's failure (the peer is gone).
     */
    @Override
    protected void controlResetFirst(IOException reset) {
        if (!host.isOpen() || host.isClosing() || host.isInputShutdown() || rdma.peerReset() || rdma.failure() != null) {
            // Nothing here waits for the peer's end, or what came on the queue pair already says it was a reset.
            super.controlResetFirst(reset);
            return;
        }
        holdReset(reset);
        host.eventLoop().schedule(this::reportHeldReset, config.getHelloTimeoutMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    protected void end(boolean abortive) {
        end(rdma, abortive, host.eventLoop());
    }

    /**
     * Ends and closes an rdma link (a channel's, or one the hello set up): the peer gets the end of
     * output, or a reset for an abortive close; the queue pair stays, without holding up the loop,
     * until that reaches the peer, and at most {@link #LINGER_MILLIS}.
     */
    public static void end(RdmaLink l, boolean abortive, EventLoop loop) {
        if (abortive) {
            l.abort();
        } else {
            try {
                l.markOutputDone();
            } catch (IOException e) {
                logger.debug("could not send the end of output on {}", l, e);
            }
        }
        l.close();
        if (!l.lingering()) {
            return;
        }
        try {
            l.boundLinger(loop.schedule(l::expireLinger, LINGER_MILLIS, TimeUnit.MILLISECONDS));
        } catch (RuntimeException e) {
            // The loop is shutting down (it destroys its links itself then), or never was: go now.
            l.expireLinger();
        }
    }
}
