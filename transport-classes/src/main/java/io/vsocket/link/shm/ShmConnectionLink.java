package io.vsocket.link.shm;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.LinkHost;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.loop.VSocketLoopPoller;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * The shm link under a channel: a ring in memory shared with the peer's process on this host. The
 * loop polls it while it spins ({@link VSocketLoopPoller}) and parks it before it blocks; the peer
 * rings its doorbell (a socket the loop watches) only while it is parked. Lends received bytes
 * as they lie in the ring when the channel option {@code RECEIVE_IN_PLACE} allows, and gives its
 * ring's pages back to the kernel after an idle period without writes.
 */
public final class ShmConnectionLink extends RingConnectionLink {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmConnectionLink.class);

    /** How long an shm connection writes nothing before it returns its ring pages to the kernel. */
    public static final long IDLE_RELEASE_MILLIS = Long.getLong("io.vsocket.shmIdleReleaseMillis", 1000L);
    /** Reads that copy after the pipeline kept its loans (see {@link #lend}). */
    static final int COPIES_AFTER_A_KEPT_LOAN = 256;

    /**
     * After this long without work a link leaves its loop's turns: it parks, and its doorbell (or its
     * channel writing, or wanting to read) brings it back. A loop's turn then costs in proportion to
     * the links with work, not to every link it holds; the peer of a parked link pays a doorbell
     * (a one-byte send) on its next message, which a link busier than this never does.
     */
    static final long PARK_AFTER_NANOS =
            TimeUnit.MICROSECONDS.toNanos(Long.getLong("io.vsocket.shmParkAfterMicros", 1000L));

    private final ShmLink shm;
    private final Poller poller = new Poller();
    /** The poller is among the loop's turns (else the link is parked and its doorbell watched). */
    private boolean inTurns;
    /** Polls in a row that found no work; 0 after one that found some. */
    private int idlePolls;
    /** When the polls began to find nothing ({@code System.nanoTime()}, read at the first of them). */
    private long idleSince;
    /** The loop's handler the poller was added to; null until started. */
    private VSocketIoHandler handler;
    private IoRegistration doorbellRegistration;
    /** The doorbell's handle on the current loop. */
    private Doorbell doorbell;
    private Future<?> idleRelease;
    private int writesSinceIdleCheck;
    /** See {@link #failWaitingWritesOnPeerClose()}. */
    private boolean failWaitingWritesOnPeerClose;
    /** Runs when the peer rings the doorbell (before the link polls): see {@link #onDoorbell}. */
    private Runnable doorbellWatcher;

    /** Reads left to copy before one lends again; the loop's thread only. */
    private int copiesLeft;
    /** A loan was out as the last read with bytes to read began; the loop's thread only. */
    private boolean loanOutAtLastRead;

    public ShmConnectionLink(LinkHost host, NativeSocket socket, LinkSettings config, ShmLink shm) {
        super(host, socket, config, shm);
        this.shm = shm;
    }

    @Override
    protected VSocketLink ringKind() {
        return VSocketLink.SHM;
    }

    @Override
    public void start(boolean reading) {
        super.start(reading);
        onLoop();
    }

    /** Lends, polls and watches its doorbell on the channel's loop. */
    private void onLoop() {
        shm.lendOn(host.eventLoop());
        handler = host.ioHandler();
        joinTurns();
        Doorbell doorbell = new Doorbell(shm.doorbellFd());
        ((IoEventLoop) host.eventLoop()).register(doorbell).addListener(f -> {
            if (f.isSuccess()) {
                IoRegistration r = (IoRegistration) f.getNow();
                if (closed || doorbell.stale) {
                    r.cancel();
                    return;
                }
                try {
                    r.submit(VSocketIoOps.of(VSocketIoOps.IN | VSocketIoOps.EDGE));
                } catch (RuntimeException e) {
                    r.cancel();
                    host.failed(new IOException("cannot watch the shm link's doorbell", e));
                    return;
                }
                // Only now may the link leave the loop's turns: its doorbell would wake it.
                doorbellRegistration = r;
            } else if (!doorbell.stale) {
                host.failed(f.cause());
            }
        });
        this.doorbell = doorbell;
    }

    /**
     * Leaves the loop once its doorbell is watched (its registration's listener runs on this loop
     * till then) and it has no task queued here: out of the turns, the doorbell's registration
     * cancelled, the idle release's timer too; loans released meanwhile wait for the next loop.
     */
    @Override
    public boolean leaveLoop() {
        if (!idleOnLoop() || handler == null || doorbellRegistration == null) {
            return false;
        }
        cancelIdleRelease();
        if (inTurns) {
            inTurns = false;
            handler.removePoller(poller);
        }
        doorbell.stale = true;
        doorbellRegistration.cancel();
        doorbellRegistration = null;
        handler = null;
        shm.lendOn(null);
        return true;
    }

    @Override
    public void loopJoined() {
        if (!closed && handler == null) {
            onLoop(); // among the new loop's turns at once: what came meanwhile is read there
        }
    }

    /**
     * Also runs {@code watcher} whenever the peer rings this side's doorbell: a connection moving onto
     * this link learns there what the peer wrote outside the rings (see {@link ShmLink#markAttached()}).
     */
    public void onDoorbell(Runnable watcher) {
        this.doorbellWatcher = watcher;
    }

    /**
     * A loan of the ring's bytes, or null (the read copies) when receive in place is off or the
     * pipeline keeps what it is lent. A loan pays where the pipeline is done with it soon: a sink, a
     * decoder that consumes what it is given, or one that keeps a partial frame in it until the next
     * read merges it away (Netty's cumulator). One that keeps its loans read after read (an aggregator
     * of a large message — codec-redis's bulk strings, an HTTP body — a framework that hands buffers to
     * another thread) pins ring space instead, which the writer steps over lap after lap, so a message
     * longer than what is left waits for credit. So loans out as two reads in a row begin make the next
     * {@link #COPIES_AFTER_A_KEPT_LOAN} reads copy, as an epoll read does, before one lends again to
     * see. Measured with Lettuce's 256 KiB SETs against the example server: lending regardless,
     * 1.2–1.3x epoll's p50 at 1.4–1.7x its CPU; copying every read, 0.9 at 0.9.
     */
    @Override
    public ByteBuf lend(ByteBufAllocator allocator, int max) throws IOException {
        if (!config.isReceiveInPlace()) {
            return null;
        }
        boolean loanOut = shm.loansOutstanding() > 0;
        if ((loanOut || copiesLeft > 0) && shm.readable() == 0) {
            // Nothing to read (a read loop's last look): says nothing of what the pipeline keeps. With no
            // loan out and no copies owed, shm.lend looks at what is readable itself.
            return null;
        }
        boolean kept = loanOut && loanOutAtLastRead;
        loanOutAtLastRead = loanOut;
        if (kept) {
            copiesLeft = COPIES_AFTER_A_KEPT_LOAN;
            return null;
        }
        if (copiesLeft > 0) {
            copiesLeft--;
            return null;
        }
        return shm.lend(allocator, max);
    }

    @Override
    public long bytesReceivedInPlace() {
        return closed ? 0 : shm.bytesLent();
    }

    @Override
    protected boolean peerLeftBytesUnread() throws IOException {
        return shm.unreadByPeer() > 0;
    }

    @Override
    protected boolean peerLeft() {
        return shm.peerClosed();
    }

    /**
     * Whether a write waiting for credit fails as soon as the peer has closed, rather than when its
     * control connection ends: set for a connection that began on tcp, whose control connection's end
     * may already have been read as the end of the peer's stream there.
     */
    public void failWaitingWritesOnPeerClose() {
        failWaitingWritesOnPeerClose = true;
    }

    @Override
    protected boolean peerReset() {
        return failWaitingWritesOnPeerClose && shm.peerClosed();
    }

    @Override
    protected void beforeWrite() {
        backInTurns();
    }

    @Override
    public void readInterest(boolean wanted) {
        super.readInterest(wanted);
        if (wanted) {
            backInTurns();
        }
    }

    @Override
    public void shutdownInput() {
        super.shutdownInput();
        backInTurns();
    }

    @Override
    public void shutdownOutput() throws IOException {
        backInTurns();
        super.shutdownOutput();
    }

    /**
     * Back among the loop's turns: its peer rang, or its channel writes or wants to read (what the
     * link parked for may no longer be what it waits for). Its idle release runs on the period again.
     */
    private void backInTurns() {
        // (Not from the loop it left, on a task queued before its channel moved: the next loop's turns are that loop's.)
        if (inTurns || closed || handler == null || !host.eventLoop().inEventLoop()) {
            return;
        }
        joinTurns();
    }

    /** Among the loop's turns, with the idle release on its period. */
    private void joinTurns() {
        inTurns = true;
        idlePolls = 0;
        handler.addPoller(poller);
        cancelIdleRelease();
        idleRelease = host.eventLoop().scheduleWithFixedDelay(this::releaseIdleRing, IDLE_RELEASE_MILLIS,
                IDLE_RELEASE_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * Out of the loop's turns, parked for what its channel waits for (bytes, the peer's end, credit),
     * unless that came meanwhile. Nothing is written while out, so one idle release after the period
     * does what the periodic one would.
     */
    private void leaveTurns() {
        try {
            if (shm.park(readInterest, !peerEndSeen, waitingForCredit)) {
                return; // work came while parking: the next poll takes it
            }
        } catch (RingProtocolException e) {
            host.failed(e); // (during a poll: the peer broke the ring, reading or not)
            return;
        }
        inTurns = false;
        handler.removePoller(poller);
        cancelIdleRelease();
        idleRelease = host.eventLoop().schedule(this::releaseWhileOut, IDLE_RELEASE_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void cancelIdleRelease() {
        if (idleRelease != null) {
            idleRelease.cancel(false);
            idleRelease = null;
        }
    }

    @Override
    protected void published() {
        writesSinceIdleCheck++;
    }

    /** An idle period after the link left the loop's turns, still out: it wrote nothing since. */
    private void releaseWhileOut() {
        idleRelease = null;
        if (!inTurns) {
            writesSinceIdleCheck = 0;
            releaseIdleRing();
        }
    }

    /** Once per idle period: a connection that wrote nothing in it gives its ring's pages back. */
    private void releaseIdleRing() {
        if (closed) {
            return;
        }
        if (writesSinceIdleCheck == 0 && !waitingForCredit) {
            try {
                shm.releaseIdleRing();
            } catch (IOException e) {
                logger.debug("{}: could not release the idle ring's pages", this, e);
            }
        }
        writesSinceIdleCheck = 0;
    }

    @Override
    protected void end(boolean abortive) {
        cancelIdleRelease();
        if (!abortive) {
            shm.markOutputDone();
        }
        shm.markClosed();
        IoRegistration r = doorbellRegistration;
        doorbellRegistration = null;
        if (r != null) {
            r.cancel();
        }
        if (handler != null && host.eventLoop().inEventLoop()) {
            handler.removePoller(poller);
        }
        shm.close();
    }

    /** Polls the link while the loop spins, and parks it before the loop blocks. */
    private final class Poller implements VSocketLoopPoller {
        /** The protocol error that parking met, for the poll that follows to act on. */
        private RingProtocolException parkFailure;

        @Override
        public int poll() {
            if (closed || !inTurns) {
                return 0;
            }
            shm.unpark();
            RingProtocolException failure = parkFailure;
            if (failure != null) {
                parkFailure = null;
                host.failed(failure);
                return 1;
            }
            int work = ready();
            if (work > 0) {
                idlePolls = 0;
            } else if (idlePolls++ == 0) {
                idleSince = System.nanoTime(); // the clock once per idle stretch, then every 16th poll
            } else if ((idlePolls & 15) == 0 && System.nanoTime() - idleSince > PARK_AFTER_NANOS
                    && doorbellRegistration != null) {
                // (Not before the doorbell is in the loop's epoll set: nothing else would wake a parked link.)
                leaveTurns();
            }
            return work;
        }

        @Override
        public boolean armAndCheck() {
            if (closed) {
                return false;
            }
            try {
                return shm.park(readInterest, !peerEndSeen, waitingForCredit);
            } catch (RingProtocolException e) {
                // Parking looks at the peer's cursor even when nothing reads it: a channel that does
                // not read would otherwise keep the loop from blocking until it reads (the next poll
                // found nothing to do, and the next park the same error), so the link is cut off now.
                parkFailure = e;
                return true;
            }
        }
    }

    /** The doorbell: the peer rings it when this loop sleeps and it wrote or returned credit. */
    private final class Doorbell implements VSocketIoHandle {
        private final int fd;
        /** The link left the loop this handle was registered with. */
        boolean stale;

        Doorbell(int fd) {
            this.fd = fd;
        }

        @Override
        public int fd() {
            return fd;
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            if (!closed && !stale) {
                if (host.isClosing() && ((VSocketIoEvent) event).isHangUp()) {
                    // The peer let go of the link — it closed or its process died — while this side's close waits
                    // for it to read what is left: it never will. (While the connection's reads are still on tcp,
                    // its socket's end cannot say so: the peer may only have shut its output there.)
                    host.failed(new IOException("Connection reset by peer: its end of the shm link closed while this "
                            + "side's close waited for it to read"));
                    return;
                }
                // Edge-triggered: each ring is an event, read back or not (now and then, so they never fill it).
                if (!shm.answerDoorbell()) {
                    host.failed(new RingProtocolException("the peer passed descriptors through the shm link's doorbell"));
                    return;
                }
                Runnable watcher = doorbellWatcher;
                if (watcher != null) {
                    watcher.run();
                }
                backInTurns();
                poller.poll();
            }
        }

        @Override
        public void close() {
            // The link owns the doorbell; closing the link closes it.
        }
    }
}
