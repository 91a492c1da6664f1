package io.vsocket.link.rdma;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.buffer.RegisteredMemory;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.ffm.ibverbs.ibv_sge;
import io.vsocket.link.Resources;
import io.vsocket.stream.ReceiveCursor;
import io.vsocket.stream.RingCopy;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.RingSource;
import io.vsocket.stream.SendCursor;
import io.vsocket.stream.StreamLink;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionException;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.MemoryWindow;
import io.vsocket.verbs.Mtu;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.VerbsException;
import org.agrona.collections.LongArrayQueue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_MW_BIND;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_REMOTE_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_INLINE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_SIGNALED;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WC_RECV_RDMA_WITH_IMM;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE_WITH_IMM;

/**
 * The rdma link of one connection: the ring protocol over an RC queue pair. This side's receive
 * ring is open to remote writes through this connection's queue pair alone: a type 2 memory window
 * bound to the ring through it (the protection domain is the device's, shared by every connection of
 * the process, and a region's own key would open the ring to a peer of any of them; a device without
 * windows falls back to that, logged once per device); the send side keeps a registered staging ring that mirrors
 * the peer's ring byte for byte, so copied bytes go out with RDMA WRITE from the staging position to
 * the same position in the peer's ring. Bytes of a buffer in registered memory (a
 * {@link RegisteredAllocator} buffer of 1 KiB or more) are not copied: the write gathers them from
 * the buffer itself, which stays retained until a signalled completion says the device has read it.
 *
 * <p>Every message is one RDMA WRITE_WITH_IMM, and the 32-bit immediate says what it is:
 * <pre>
 * bit 31 = 1   credit: the receiver has read (immediate &amp; 0x7fffffff) more bytes; no payload
 *              (bits 31 and 30 both set: reset, the sender closed abortively, as with SO_LINGER 0)
 * bit 31 = 0   data: the write placed (immediate &amp; 0x3fffffff) bytes at the receiver's producer
 *              cursor; bit 30 set: and that was the sender's last (end of output)
 * </pre>
 * A publish posts one chained write per contiguous piece (two when the ring wraps), small pieces
 * inline, and only every {@link #SIGNAL_EVERY}th request signalled. Credit goes back a quarter
 * ring at a time, as on the shm link. Cursors claimed by the peer are checked as on every link.
 *
 * <p>The side that connects first must not write before the peer's queue pair can receive: it
 * has no credit until the first message from the peer arrives, and the side that connects second
 * sends one at once (a credit of zero bytes). One thread only.
 */
public final class RdmaLink extends QpCompletions implements StreamLink {
    static final int CREDIT = 0x8000_0000;
    static final int END = 0x4000_0000;
    static final int LENGTH = 0x3fff_ffff;
    /** Credit and end at once (never a real credit: a ring holds less than 2^30 bytes): the peer closed abortively. */
    static final int RESET = CREDIT | END;
    private static final int SEND_DEPTH = 128;
    private static final int SIGNAL_EVERY = 16;
    /** Signalled requests that release buffers sent in place, outstanding at once (more are copied). */
    private static final int MAX_HOLD_SIGNALS = 4;
    /**
     * The most signalled requests one link can have outstanding: sizes the shared completion queue.
     * Besides every SIGNAL_EVERYth request and the publishes that hold buffers: the end (or the
     * window's bind, or the close's last request) and an idle link's fence.
     */
    static final int MAX_SIGNALED = SEND_DEPTH / SIGNAL_EVERY + 2 + MAX_HOLD_SIGNALS + 1;
    /** Pieces one publish gathers (staged stretches and buffers sent in place); a write past them publishes first. */
    private static final int MAX_SEGMENTS = 32;
    /** Scatter entries per request: every RDMA device offers at least this many. */
    private static final int MAX_SGE = 4;
    /** Requests one publish posts at most: a request per MAX_SGE pieces, one more where the ring wraps. */
    private static final int MAX_CHAIN = MAX_SEGMENTS / MAX_SGE + 2;
    private static final int INLINE = 64;
    private static final long WAIT_NANOS = 1_000_000_000L;
    /** How long after the peer's answer a link still without a completion fails (see {@link #probeAnswered}). */
    static final long ANSWER_GRACE_MILLIS = 50;
    /** A link quiet for this fraction of the stall time probes its peer over tcp (see {@link #watch}). */
    static final int PROBE_FRACTION = 4;
    /** The longest a stop for a fail-over polls for completions that came before it. */
    private static final long STOP_DRAIN_NANOS = 20_000_000L;
    private static final int ACCESS = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;

    /** Told when completions changed this link's state (bytes, credit, end, failure). */
    public interface Listener {
        void linkActivity();
    }

    private final RdmaContext context;
    /** The context's completion queue this link's queue pair completes on. */
    private final CompletionQueue cq;
    private final Arena arena = Arena.ofShared();
    private final QueuePair qp;
    private final int psn = ThreadLocalRandom.current().nextInt(1 << 24);
    private final MemorySegment rxRing;
    private final MemoryRegion rxMemory;
    /**
     * Grants the peer remote write to the receive ring through this connection's queue pair alone;
     * null where the device has no type 2 windows, and then the ring's own region allows it.
     */
    private final MemoryWindow window;
    /** The key the peer writes the ring with: the window's once bound, else the region's. */
    private final int ringKey;
    private final ByteBuffer rxView;
    private final ReceiveCursor receiveCursor;
    private final int creditQuantum;
    private final MemorySegment requests;
    private final MemorySegment sges;
    /** Where copied bytes wait for the device: taken on the first copied write, given back when idle (see {@link StagingRings}). */
    private StagingRings.Ring staging;
    /** This link's place among the holders of staging rings ({@link StagingRings}), -1 when it holds none. */
    int stagingIndex = -1;
    /** Bytes were copied into the staging ring since the last idle sweep. */
    private boolean stagedSinceSweep;
    /** The last signalled request posted: its completion is awaited while it is after {@link #completed}. */
    private long lastSignaled;
    private SendCursor sendCursor;
    private int publishQuantum;
    private long remoteRing;
    private int remoteKey;
    private long peerProduced;
    private long peerConsumed;
    private long publishedTo;
    private long creditReturned;
    private long posted;
    /** The last request that has left the send queue, completed or flushed. */
    private long completed;
    /** When a completion last came, or the first request after none were out was posted. */
    private long progressNanos;
    /** This link asked for a probe of its peer (see {@link #watch}) in the quiet spell since {@link #probeSpell}. */
    private boolean probed;
    /** The {@link #progressNanos} of the quiet spell the last probe was asked in. */
    private long probeSpell;
    /** A probe asked for and not yet taken by the owner ({@link #takeProbeWanted()}). */
    private boolean probeWanted;
    /** The last request the peer's device is known to have received (a successful completion: every one before it too). */
    private long delivered;
    /** Stopped for a fail-over to tcp ({@link #stopForFailover()}): it moves no byte any more. */
    private boolean stopped;
    private int unsignaled;
    /** What the next publish posts: pieces in ring order from {@code publishedTo}. */
    private final long[] segmentAddresses = new long[MAX_SEGMENTS];
    private final int[] segmentLengths = new int[MAX_SEGMENTS];
    private final int[] segmentKeys = new int[MAX_SEGMENTS];
    private int segments;
    private int stagedSincePublish;
    /** Buffers sent in place, retained until the request carrying them is known to be done (in post order). */
    private final ArrayList<ByteBuf> unpostedHolds = new ArrayList<>();
    private final ArrayDeque<ByteBuf> holds = new ArrayDeque<>();
    /** For each held buffer, the (signalled) request whose completion lets it go. */
    private final LongArrayQueue holdUntil = new LongArrayQueue(Long.MIN_VALUE);
    /**
     * For every held buffer, posted or not, in stream order: the stream position of its first byte,
     * and where its bytes lie in it ({@code index << 32 | length}), so that a fail-over can resend
     * them ({@link #unreceived}).
     */
    private final LongArrayQueue holdStarts = new LongArrayQueue(Long.MIN_VALUE);
    private final LongArrayQueue holdSpans = new LongArrayQueue(Long.MIN_VALUE);
    /**
     * Where the stream bytes this side can no longer send again end: the last buffer sent in place
     * and let go (its request acknowledged), or what was published when the staging ring was given back.
     */
    private long releasedThrough;
    /** Publishes whose held buffers are not yet let go: each has one signalled request out. */
    private int holdingPublishes;
    private long inPlaceBytes;
    /** The peer's queue pair is known to receive: this side may write. */
    private boolean peerReady;
    private boolean outputDone;
    /** The last message is a reset, not an end. */
    private boolean resetting;
    private long endRequest;
    private boolean peerEnded;
    private boolean peerReset;
    private IOException failure;
    private boolean closed;
    /** Closed, and waiting for its context to start its drain ({@link #startDrain()}). */
    private boolean drainQueued;
    /**
     * Closed, its queue pair in error, and waiting for the flush completion of request
     * {@link #drainUntil} (0: none to wait for) before the device is known to be done with its memory.
     */
    private boolean draining;
    private long drainUntil;
    /** When a drain stops waiting for its flush and releases anyway ({@link #watch}). */
    private long drainDeadline;
    /** Closed by its owner, kept until its end of output completes. */
    private boolean lingering;
    /** The owner's bound on the linger ({@link #boundLinger}): cancelled when the link goes before it. */
    private Future<?> lingerBound;
    private Listener listener;

    RdmaLink(RdmaContext context, CompletionQueue cq, int ringSize) throws VerbsException {
        super(true);
        this.context = context;
        this.cq = cq;
        this.receiveCursor = new ReceiveCursor(ringSize);
        this.creditQuantum = ringSize / 4;
        QueuePair q = null;
        MemoryRegion mr = null;
        MemoryWindow w = null;
        try {
            q = context.protectionDomain().createQueuePair(new QueuePairConfig(QpType.RC, cq, cq,
                    context.sharedReceiveQueue(), SEND_DEPTH, 0, MAX_SGE, 1, INLINE, false));
            rxRing = arena.allocate(ringSize, 4096);
            w = context.device().newWindow();
            // With a window the region itself grants no remote access: every connection of the
            // process shares the protection domain, and a region's key would open the ring to all.
            mr = context.protectionDomain().register(rxRing,
                    w != null ? IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND : ACCESS);
        } catch (VerbsException | RuntimeException e) {
            Resources.closeQuietly(w, q);
            arena.close();
            throw e;
        }
        this.qp = q;
        this.rxMemory = mr;
        this.window = w;
        this.ringKey = w != null ? w.nextRkey() : mr.rkey();
        this.rxView = rxRing.asByteBuffer();
        this.requests = arena.allocate(ibv_send_wr.LAYOUT, MAX_CHAIN);
        this.sges = arena.allocate(ibv_sge.LAYOUT, MAX_SEGMENTS);
    }

    int qpNumber() {
        return qp.qpNumber();
    }

    CompletionQueue completionQueue() {
        return cq;
    }

    public void listener(Listener listener) {
        this.listener = listener;
    }

    /** What the peer needs: hand it over the hello. */
    public RdmaEndpoint local() {
        return new RdmaEndpoint(context.gid().gid(), context.gid().index(), qp.qpNumber(), psn, rxMemory.address(),
                ringKey, receiveCursor.capacity(), context.mtu().bytes());
    }

    /**
     * Connects the queue pair to {@code peer} (INIT, RTR, RTS) and sets up the staging ring for its
     * ring. {@code peerIsReady}: the peer connected first (its queue pair receives already), so this
     * side may write at once, and tells the peer so; otherwise this side waits for the peer's word.
     */
    public void connect(RdmaEndpoint peer, boolean peerIsReady) throws VerbsException {
        sendCursor = new SendCursor(peer.ringSize());
        publishQuantum = Math.max(peer.ringSize() / 4, 1);
        remoteRing = peer.ringAddress();
        remoteKey = peer.rkey();
        qp.initConnected(context.port(), ACCESS);
        Mtu path = Mtu.ofBytes(Math.min(context.mtu().bytes(), peer.mtu()));
        qp.readyToReceive(AddressVector.roce(peer.gid(), context.gid().index(), context.port()), peer.qpNumber(),
                peer.psn(), path);
        qp.readyToSend(psn);
        if (window != null) {
            bindWindow();
        }
        if (peerIsReady) {
            peerReady = true;
            request(0, CREDIT);
            post(1);
        }
    }

    /**
     * Binds the window over the receive ring through this queue pair, and waits (bounded) for the
     * bind to complete: a local operation, done before the peer is told it may write, so no write
     * of the peer's can arrive before the ring is open to it.
     */
    private void bindWindow() throws VerbsException {
        MemorySegment wr = requests.asSlice(0, ibv_send_wr.LAYOUT);
        wr.fill((byte) 0);
        int key = window.prepareBind(wr, rxMemory, rxMemory.address(), rxMemory.length(), IBV_ACCESS_REMOTE_WRITE);
        if (key != ringKey) {
            throw new IllegalStateException("the window's key moved: " + key + " after advertising " + ringKey);
        }
        long bind = post(1, true);
        awaitCompleted(bind);
        if (failure instanceof VerbsException e) {
            throw e;
        }
        if (completed < bind) {
            throw new VerbsException("ibv_post_send(BIND_MW): no completion within " + WAIT_NANOS / 1_000_000 + " ms",
                    LibC.ETIMEDOUT);
        }
    }

    /** The peer's queue pair is known to receive (its first message arrived, or it connected first). */
    public boolean peerReady() {
        return peerReady;
    }

    @Override
    public IOException failure() {
        return failure;
    }

    @Override
    public int credit() {
        return peerReady && !outputDone && !stopped ? sendCursor.credit() : 0;
    }

    /**
     * Takes up to {@code length} bytes of {@code buf} as credit allows. Bytes in a registered buffer
     * chunk (see {@link RegisteredMemory}) are sent from where they are: the buffer is retained until
     * the device has read them (a signalled completion says so). Others are copied into the staging
     * ring, at the position they take in the peer's ring.
     */
    @Override
    public int write(ByteBuf buf, int index, int length) {
        int n = Math.min(length, credit());
        long address;
        // In place only when the channel holds the buffer's one reference: a buffer the application
        // also holds (retained, or a retained duplicate) could change after its write completes,
        // before the device reads it; Netty's contract lets it, so that one is copied.
        if (n >= RegisteredAllocator.MIN_REGISTERED && buf.refCnt() == 1 && (address = BufferAddress.of(buf, index, n)) != 0) {
            long key = context.device().lkey(address, n);
            if (key != RdmaDevice.UNREGISTERED) {
                int taken = inPlace(buf, index, address, n, (int) key);
                if (taken >= 0) {
                    return taken;
                }
            }
        }
        StagingRings.Ring ring = n > 0 ? staging() : null;
        if (ring == null) {
            return 0;
        }
        int done = 0;
        while (done < n) {
            if (segments + 1 > MAX_SEGMENTS && !publishQuietly()) {
                return done;
            }
            int position = sendCursor.position();
            int chunk = Math.min(Math.min(n - done, sendCursor.contiguous()), publishQuantum);
            ByteBuffer view = ring.view;
            view.limit(position + chunk).position(position);
            buf.getBytes(index + done, view);
            segment(ring.address() + position, chunk, ring.lkey(), position);
            sendCursor.advance(chunk);
            done += chunk;
            if (done < n && stagedSincePublish >= publishQuantum) {
                // A large write goes out a quarter ring at a time: the device moves one quarter while
                // this side copies the next.
                publishQuietly();
            }
        }
        return n;
    }

    /**
     * Lets {@code source} fill up to {@code length} bytes of the staging ring, as credit allows, at
     * the positions they take in the peer's ring (a file is read straight into the registered
     * staging memory: one copy, in the kernel, and the device sends from there); the pieces join
     * the next publish as copied bytes do. Returns the count.
     */
    @Override
    public int write(RingSource source, int length) throws IOException {
        int n = Math.min(length, credit());
        StagingRings.Ring ring = n > 0 ? staging() : null;
        if (ring == null) {
            return 0;
        }
        int done = 0;
        while (done < n) {
            if (segments + 1 > MAX_SEGMENTS && !publishQuietly()) {
                break;
            }
            int position = sendCursor.position();
            int chunk = Math.min(Math.min(n - done, sendCursor.contiguous()), publishQuantum);
            ByteBuffer view = ring.view;
            view.limit(position + chunk).position(position);
            int filled = source.fill(view);
            if (filled <= 0) {
                break;
            }
            assert filled <= chunk : filled + " bytes filled into a stretch of " + chunk;
            segment(ring.address() + position, filled, ring.lkey(), position);
            sendCursor.advance(filled);
            done += filled;
            if (filled < chunk) {
                break; // the source has no more now
            }
            if (done < n && stagedSincePublish >= publishQuantum) {
                // As for copied buffers: the device moves one quarter while this side reads the next.
                publishQuietly();
            }
        }
        return done;
    }

    /** The staging ring, taken now if the link holds none; null when none could be registered (the link has failed). */
    private StagingRings.Ring staging() {
        StagingRings.Ring ring = staging;
        if (ring == null) {
            try {
                ring = context.stagingRings().take(this, sendCursor.capacity());
            } catch (VerbsException | IllegalStateException e) {
                fail(new IOException("cannot register a staging ring of " + sendCursor.capacity() + " bytes: "
                        + e.getMessage(), e));
                return null;
            }
            staging = ring;
        }
        stagedSinceSweep = true;
        return ring;
    }

    /**
     * The loop's idle sweep ({@link StagingRings}): a link that copied nothing since the last sweep
     * gives its staging ring back once the device has finished every request it posted. Requests are
     * signalled only now and then, so a link whose last ones were not first posts an empty signalled
     * RDMA WRITE (no payload, no immediate: the peer's CPU never sees it) and gives the ring back at a
     * later sweep, once that has completed.
     */
    void releaseStagingIfIdle() {
        if (stagedSinceSweep) {
            stagedSinceSweep = false;
            return;
        }
        if (staging == null || closed || lingering || failure != null || stopped || segments > 0) {
            return;
        }
        if (completed >= posted) {
            context.stagingRings().give(this, staging);
            staging = null;
            // Every byte published so far was acknowledged; the ring that held them is another
            // link's now, so a fail-over can never send them again from it.
            releasedThrough = Math.max(releasedThrough, publishedTo);
            return;
        }
        fence();
    }

    /**
     * Asks the device to say when it is done with every request posted so far, if no signalled
     * request is out to say so already: an empty signalled RDMA WRITE (no payload, no immediate, so
     * the peer's CPU never sees it); send completions come in order.
     */
    private void fence() {
        if (lastSignaled > completed || !hasRoom(1)) {
            return;
        }
        MemorySegment wr = requests.asSlice(0, ibv_send_wr.LAYOUT);
        wr.fill((byte) 0);
        ibv_send_wr.opcode(wr, IBV_WR_RDMA_WRITE);
        ibv_send_wr.wr_rdma_remote_addr(wr, remoteRing);
        ibv_send_wr.wr_rdma_rkey(wr, remoteKey);
        try {
            post(1, true);
        } catch (VerbsException e) {
            fail(e);
        }
    }

    /**
     * Runs the loop's timers for its links on {@code loop}, the loop of this link's channel: the idle
     * release of staging rings, and the watch for requests that never complete.
     */
    public void timersOn(io.netty.channel.EventLoop loop) {
        context.timersOn(loop);
    }

    /**
     * The loop's watch, every sixteenth of the stall time: a link whose signalled request has been out
     * for longer than {@code stallNanos} without a completion has lost its path though the device
     * never said so (RC's retries end in a failed completion on real devices, after about half a
     * second; SoftRoCE does not always report them), and fails, so its channel goes on over tcp or
     * closes instead of waiting for ever. Quiet for a quarter of that, it first asks its peer over
     * tcp ({@link #probeAnswered}). A link with only unsignalled requests out posts a fence first,
     * so that a completion is awaited at all; a closed link still waiting for its flush goes once
     * its bound has passed.
     */
    void watch(long now, long stallNanos) {
        if (draining) {
            if (now - drainDeadline >= 0) {
                release(); // no flush within the bound (a broken queue): the device had its time
            }
            return;
        }
        if (posted == completed || closed || lingering || failure != null || stopped || !peerReady) {
            return;
        }
        if (lastSignaled <= completed) {
            fence();
        } else if (now - progressNanos >= stallNanos) {
            fail(new IOException("no completion for " + (now - progressNanos) / 1_000_000 + " ms with "
                    + (posted - completed) + " requests out: the RDMA path to the peer is gone"));
        } else if (now - progressNanos >= stallNanos / PROBE_FRACTION && (!probed || probeSpell != progressNanos)) {
            // Quiet for a quarter of the stall time: ask the peer over tcp (once per quiet spell).
            probed = true;
            probeSpell = progressNanos;
            probeWanted = true;
            context.touch(this);
        }
    }

    @Override
    public boolean takeProbeWanted() {
        boolean wanted = probeWanted;
        probeWanted = false;
        return wanted && !closed && failure == null && !stopped;
    }

    /**
     * The peer answered over tcp, so it is alive and its loop runs: if nothing completed here since
     * the probe went (requests still out), the RDMA path is what failed (RC's retry error would say
     * so on a real device, after about half a second; SoftRoCE does not always), and the link fails
     * then instead of at the stall watch's bound. Not at once: completions not polled yet count
     * first, and a peer that just came back from a pause (its receives ran out, so its device turned
     * this side's writes away for a moment) lets a retried write through within a millisecond —
     * its answer may well come first. So the link looks again {@link #ANSWER_GRACE_MILLIS} later.
     */
    @Override
    public void probeAnswered() {
        if (!stillQuietSince(probeSpell)) {
            return;
        }
        long spell = probeSpell;
        context.schedule(() -> {
            if (stillQuietSince(spell)) {
                fail(new IOException("no completion for " + (System.nanoTime() - progressNanos) / 1_000_000
                        + " ms with " + (posted - completed) + " requests out while the peer answers over tcp: "
                        + "the RDMA path to the peer is gone"));
            }
        }, ANSWER_GRACE_MILLIS);
    }

    /** Requests still out and nothing completed since the quiet spell that began at {@code spell} (after a poll). */
    private boolean stillQuietSince(long spell) {
        if (!probed || closed || lingering || failure != null || stopped) {
            return false;
        }
        try {
            context.poll();
        } catch (VerbsException e) {
            return false; // the loop's own poll reports a broken queue
        }
        return progressNanos == spell && lastSignaled > completed;
    }

    /** Takes the {@code n} bytes of {@code buf} from {@code index} (at {@code address}) in place; -1 when they must be copied instead. */
    private int inPlace(ByteBuf buf, int index, long address, int n, int key) {
        if (segments + 2 > MAX_SEGMENTS && !publishQuietly()) {
            return 0;
        }
        if (holdingPublishes >= MAX_HOLD_SIGNALS) {
            // Bounds the signalled requests this link has out (the shared completion queue is sized
            // by it); the device is still reading earlier buffers, and a copy costs less than waiting.
            return -1;
        }
        int first = Math.min(n, sendCursor.contiguous());
        segment(address, first, key, sendCursor.position());
        if (first < n) {
            segment(address + first, n - first, key, 0);
        }
        holdStarts.addLong(sendCursor.produced());
        holdSpans.addLong((long) index << 32 | n);
        sendCursor.advance(n);
        unpostedHolds.add(buf.retain());
        inPlaceBytes += n;
        return n;
    }

    /** Appends a piece to the next publish (merged with the last one when it continues it in memory and in the ring). */
    private void segment(long address, int length, int key, int ringPosition) {
        if (staging != null && key == staging.lkey()) {
            stagedSincePublish += length;
        }
        int last = segments - 1;
        if (last >= 0 && ringPosition != 0 && segmentKeys[last] == key
                && segmentAddresses[last] + segmentLengths[last] == address) {
            segmentLengths[last] += length;
            return;
        }
        segmentAddresses[segments] = address;
        segmentLengths[segments] = length;
        segmentKeys[segments] = key;
        segments++;
    }

    /** Publishes, failing the link on an error; false when something is still unposted (no room in the send queue). */
    private boolean publishQuietly() {
        try {
            publish();
        } catch (VerbsException e) {
            fail(e);
        }
        return segments == 0;
    }

    /**
     * Posts everything written since the last publish as one chain of WRITE_WITH_IMM requests (and
     * the end of output, when it is due): one request per contiguous stretch of the peer's ring (two
     * when the ring wraps), each gathering up to {@link #MAX_SGE} pieces. When the send queue has no
     * room it posts nothing now: the completions that make room post it (see {@link #afterCompletions()}).
     */
    @Override
    public void publish() throws VerbsException {
        if (failure != null || closed || !peerReady || stopped) {
            // Not before the peer's queue pair receives (nothing is written then, but the end may be
            // due): the peer's first message publishes it (see afterCompletions).
            return;
        }
        if (segments > 0) {
            // Piece i is scatter entry i; a request takes up to MAX_SGE of them and never crosses the
            // ring's end. Built first, posted only if the send queue has room for them all.
            int mask = sendCursor.capacity() - 1;
            int position = (int) (publishedTo & mask);
            int request = -1;
            int firstPiece = 0;
            int requestPosition = 0;
            int requestLength = 0;
            for (int i = 0; i < segments; i++) {
                if (request < 0 || i - firstPiece == MAX_SGE || position == 0) {
                    if (request >= 0) {
                        prepareWrite(request, requestPosition, firstPiece, i - firstPiece, requestLength);
                    }
                    if (++request == MAX_CHAIN) {
                        // Cannot happen while credit stays within what was sent; failing beats a silent stall.
                        fail(new IOException("internal: a publish of " + segments + " pieces needs more than "
                                + MAX_CHAIN + " requests"));
                        return;
                    }
                    firstPiece = i;
                    requestPosition = position;
                    requestLength = 0;
                }
                MemorySegment entry = sges.asSlice((long) i * ibv_sge.sizeof(), ibv_sge.LAYOUT);
                ibv_sge.addr(entry, segmentAddresses[i]);
                ibv_sge.length(entry, segmentLengths[i]);
                ibv_sge.lkey(entry, segmentKeys[i]);
                requestLength += segmentLengths[i];
                position = (position + segmentLengths[i]) & mask;
            }
            prepareWrite(request, requestPosition, firstPiece, segments - firstPiece, requestLength);
            if (!hasRoom(request + 1)) {
                return;
            }
            boolean holding = !unpostedHolds.isEmpty();
            long last;
            try {
                last = post(request + 1, holding);
            } catch (VerbsException e) {
                // The queue pair is broken (the path, the device): what was written stays staged
                // and held, counted as not received, for a fail-over to send again.
                fail(e);
                return;
            }
            if (holding) {
                holdingPublishes++;
                for (int i = 0; i < unpostedHolds.size(); i++) {
                    holds.add(unpostedHolds.get(i));
                    holdUntil.addLong(last);
                }
                unpostedHolds.clear();
            }
            publishedTo = sendCursor.produced();
            segments = 0;
            stagedSincePublish = 0;
        }
        if (outputDone && endRequest == 0 && hasRoom(1)) {
            request(0, resetting ? RESET : END);
            try {
                endRequest = post(1, true);
            } catch (VerbsException e) {
                fail(e);
            }
        }
    }

    private boolean hasRoom(int requests) {
        return posted - completed + requests <= SEND_DEPTH - 1;
    }

    /** Fills request {@code i}: a write of the {@code count} pieces from scatter entry {@code firstSge}, {@code length} bytes in all, to ring position {@code position}. */
    private void prepareWrite(int i, int position, int firstSge, int count, int length) {
        MemorySegment wr = request(i, length);
        target(wr, sges.asSlice((long) firstSge * ibv_sge.sizeof()), count, position, length);
    }

    /** Fills request {@code i} as a WRITE_WITH_IMM with immediate {@code imm}; alone, a message without payload (credit, the end, a reset). */
    private MemorySegment request(int i, int imm) {
        MemorySegment wr = requests.asSlice((long) i * ibv_send_wr.sizeof(), ibv_send_wr.LAYOUT);
        wr.fill((byte) 0);
        ibv_send_wr.opcode(wr, IBV_WR_RDMA_WRITE_WITH_IMM);
        ibv_send_wr.imm_data(wr, Integer.reverseBytes(imm));
        return wr;
    }

    private void target(MemorySegment wr, MemorySegment sgeList, int count, int position, int length) {
        ibv_send_wr.sg_list(wr, sgeList);
        ibv_send_wr.num_sge(wr, count);
        ibv_send_wr.wr_rdma_remote_addr(wr, remoteRing + position);
        ibv_send_wr.wr_rdma_rkey(wr, remoteKey);
        if (length <= INLINE) {
            ibv_send_wr.send_flags(wr, IBV_SEND_INLINE);
        }
    }

    private void post(int count) throws VerbsException {
        post(count, false);
    }

    /**
     * Chains, numbers and posts {@code count} prepared requests, signalling every
     * {@link #SIGNAL_EVERY}th (and the last, when {@code signalLast}); returns the last one's number.
     */
    private long post(int count, boolean signalLast) throws VerbsException {
        long postedBefore = posted;
        int unsignaledBefore = unsignaled;
        long lastSignaledBefore = lastSignaled;
        for (int i = 0; i < count; i++) {
            MemorySegment wr = requests.asSlice(i * ibv_send_wr.sizeof(), ibv_send_wr.LAYOUT);
            posted++;
            ibv_send_wr.wr_id(wr, posted); // from 1: a receive's wr_id is 0
            int flags = ibv_send_wr.send_flags(wr); // inline, as prepare decided
            if (++unsignaled >= SIGNAL_EVERY || signalLast && i == count - 1) {
                flags |= IBV_SEND_SIGNALED;
                unsignaled = 0;
                if (lastSignaled <= completed) {
                    // A completion is awaited from now (the stall watch measures from here).
                    progressNanos = System.nanoTime();
                }
                lastSignaled = posted;
            }
            ibv_send_wr.send_flags(wr, flags);
            ibv_send_wr.next(wr, i + 1 < count
                    ? requests.asSlice((i + 1) * ibv_send_wr.sizeof(), ibv_send_wr.LAYOUT) : MemorySegment.NULL);
        }
        try {
            qp.postSend(requests);
        } catch (VerbsException e) {
            // Nothing of the chain was taken: no completion will come for these numbers.
            posted = postedBefore;
            unsignaled = unsignaledBefore;
            lastSignaled = lastSignaledBefore;
            throw e;
        }
        return posted;
    }

    @Override
    public int readable() {
        return receiveCursor.readable();
    }

    @Override
    public int read(ByteBuf dst, int index, int max) throws VerbsException {
        int n = Math.min(max, receiveCursor.readable());
        int done = 0;
        while (done < n) {
            int chunk = Math.min(n - done, creditQuantum);
            RingCopy.out(receiveCursor, rxView, dst, index + done, chunk);
            done += chunk;
            if (receiveCursor.consumed() - creditReturned >= creditQuantum) {
                returnCreditNow();
            }
        }
        return n;
    }

    @Override
    public void discard() throws VerbsException {
        int n = receiveCursor.readable();
        if (n > 0) {
            receiveCursor.advance(n);
            returnCreditNow();
        }
    }

    /** Sends every byte read so far back as credit, if the send queue has room; true when nothing is owed. */
    public boolean returnCreditNow() throws VerbsException {
        long owed = receiveCursor.consumed() - creditReturned;
        if (owed == 0 || failure != null || closed || stopped) {
            return true;
        }
        if (!hasRoom(1)) {
            return false;
        }
        request(0, CREDIT | (int) owed);
        try {
            post(1);
        } catch (VerbsException e) {
            fail(e); // the link is broken: no credit matters any more
            return true;
        }
        creditReturned += owed;
        return true;
    }

    @Override
    public boolean peerOutputDone() {
        return peerEnded;
    }

    /** After what is published: the end of output. Nothing may be written after it. */
    @Override
    public void markOutputDone() throws VerbsException {
        if (!outputDone) {
            outputDone = true;
            publish();
        }
    }

    /**
     * An abortive close is coming: instead of the end of output the peer gets a reset (its writes
     * fail from then on, as a TCP peer's do after a reset).
     */
    public void abort() {
        if (!outputDone) {
            resetting = true;
            outputDone = true;
            publishQuietly();
        }
    }

    /** The peer closed abortively: nothing written now would be read. */
    public boolean peerReset() {
        return peerReset;
    }

    /** Polls this link's completion queue now (its completions update links at once; listeners run later). */
    public void pollCompletions() throws VerbsException {
        context.poll();
    }

    static boolean isReceive(int opcode) {
        return opcode == IBV_WC_RECV_RDMA_WITH_IMM;
    }

    /**
     * Completion {@code i} took a receive of the context's stream SRQ: a WRITE_WITH_IMM arrived, or a
     * receive failed (a failed completion's opcode is undefined; only receives carry wr_id 0).
     */
    static boolean consumedStreamReceive(CompletionBatch batch, int i) {
        return isReceive(batch.opcode(i)) || !batch.isSuccess(i) && batch.wrId(i) == 0;
    }

    /** One completion of this link's queue pair (called by {@link RdmaContext#poll()}). */
    @Override
    protected void completed(CompletionBatch batch, int i) {
        long wrId = batch.wrId(i);
        if (wrId != 0) {
            // A send, completed or flushed: every request up to it has left the queue. Only a
            // success says the peer has its bytes: buffers of flushed requests stay for a fail-over.
            completed = Math.max(completed, wrId);
            progressNanos = System.nanoTime();
            if (batch.isSuccess(i)) {
                delivered = Math.max(delivered, wrId);
                releaseHolds();
            }
        }
        if (closed) {
            return;
        }
        try {
            if (!batch.isSuccess(i)) {
                if (failure == null) {
                    batch.checkSuccess(i, wrId == 0 ? "receive" : "RDMA WRITE_WITH_IMM");
                }
                return;
            }
            // Counted even after a failure: a write the peer's device had acknowledged is in the ring,
            // and the peer let go of what it sent in place, so a fail-over must not ask for it again.
            if (isReceive(batch.opcode(i)) && !(failure instanceof RingProtocolException)) {
                received(batch.immediate(i));
            }
        } catch (CompletionException | RingProtocolException e) {
            if (failure == null) {
                failure = e;
            }
        }
    }

    /** Lets go of buffers sent in place whose requests the device is done with. */
    private void releaseHolds() {
        long retired = 0;
        while (!holdUntil.isEmpty() && holdUntil.peekLong() <= delivered) {
            long until = holdUntil.pollLong();
            if (until != retired) {
                // A publish's buffers all share its request number, and all go in the same pass.
                holdingPublishes--;
                retired = until;
            }
            holds.poll().release();
            long start = holdStarts.pollLong();
            releasedThrough = Math.max(releasedThrough, start + (int) holdSpans.pollLong());
        }
    }

    /**
     * Stops the link for a fail-over to tcp (its path failed, here or at the peer): the queue pair
     * goes to the error state, so no byte of the peer's lands in the receive ring after this, and
     * what completed before is counted. Returns where the peer's stream as this side
     * received it ends: every byte before it is in the receive ring or was read, none after it will
     * be taken from the ring. Writes, publishes and credit stop; the link keeps what it sent and the
     * peer may not have ({@link #unreceived}) until it is closed.
     */
    @Override
    public long stopForFailover() {
        if (!stopped) {
            stopped = true;
            try {
                qp.toError();
            } catch (VerbsException e) {
                // already in error
            }
            try {
                // What completed before the error is counted (a receive the peer's device had
                // acknowledged is in the ring): polled until the queues stay empty, briefly. Not
                // waiting for this side's own requests to flush: the peer's message says what it
                // received, and a broken path may never flush them.
                long deadline = System.nanoTime() + STOP_DRAIN_NANOS;
                int quiet = 0;
                while (quiet < 2 && System.nanoTime() < deadline) {
                    quiet = context.poll() == 0 ? quiet + 1 : 0;
                }
            } catch (VerbsException e) {
                // the queue cannot be polled: what was counted stands
            }
        }
        return peerProduced;
    }

    /** Bytes of the peer's stream this side has received and not yet read, up to {@code end}: copied out. */
    @Override
    public ByteBuf unread(long end) {
        int n = (int) (end - receiveCursor.consumed());
        ByteBuf tail = Unpooled.buffer(Math.max(n, 0));
        if (n > 0) {
            RingCopy.out(receiveCursor, rxView, tail, 0, n);
            tail.writerIndex(n);
        }
        return tail;
    }

    /**
     * After {@link #stopForFailover()}: this side's bytes from stream position {@code from} (where
     * the peer says its received stream ends) to the last one the application wrote, copied out of
     * the staging ring and the buffers sent in place, to be sent again over tcp. Throws when
     * {@code from} cannot be where the peer's stream ends: before what it returned as credit, or
     * after what was ever handed to the device.
     */
    @Override
    public ByteBuf unreceived(long from) throws RingProtocolException {
        long end = sendCursor.produced();
        if (from < peerConsumed || from > publishedTo || from < releasedThrough) {
            throw new RingProtocolException("the peer says it received " + from + " bytes; it returned credit for "
                    + peerConsumed + ", " + publishedTo + " were sent, and its device acknowledged " + releasedThrough);
        }
        ByteBuf out = Unpooled.buffer((int) (end - from));
        long p = from;
        // The held buffers in stream order: those posted, then those not yet.
        ArrayList<ByteBuf> held = new ArrayList<>(holds);
        held.addAll(unpostedHolds);
        LongArrayQueue.LongIterator starts = holdStarts.iterator();
        LongArrayQueue.LongIterator spans = holdSpans.iterator();
        for (ByteBuf buf : held) {
            long start = starts.nextValue();
            long span = spans.nextValue();
            int index = (int) (span >>> 32);
            long holdEnd = start + (int) span;
            if (holdEnd <= p) {
                continue;
            }
            if (start > p) {
                copyStaged(p, start, out);
                p = start;
            }
            out.writeBytes(buf, index + (int) (p - start), (int) (holdEnd - p));
            p = holdEnd;
        }
        if (p < end) {
            copyStaged(p, end, out);
        }
        return out;
    }

    /** Copies stream positions [from, to) out of the staging ring, which mirrors the peer's ring. */
    private void copyStaged(long from, long to, ByteBuf out) throws RingProtocolException {
        if (staging == null) {
            throw new RingProtocolException("internal: bytes " + from + " to " + to + " to send again are in no staging ring");
        }
        int mask = sendCursor.capacity() - 1;
        long p = from;
        while (p < to) {
            int position = (int) (p & mask);
            int chunk = (int) Math.min(to - p, sendCursor.capacity() - position);
            out.writeBytes(staging.memory.asSlice(position, chunk).asByteBuffer());
            p += chunk;
        }
    }

    @Override
    public boolean failsOver() {
        return true;
    }

    /** Bytes sent from the application's buffers without a copy (for tests and metrics). */
    public long inPlaceBytes() {
        return inPlaceBytes;
    }

    private void received(int imm) throws RingProtocolException {
        peerReady = true;
        if (imm == RESET) {
            peerReset = true;
            return;
        }
        if ((imm & CREDIT) != 0) {
            peerConsumed += imm & ~CREDIT;
            if (peerConsumed > publishedTo) {
                // It cannot have read what was never posted: believing it would let the writer
                // overwrite staged bytes not yet sent.
                throw new RingProtocolException("peer returned credit for " + peerConsumed + " bytes, only "
                        + publishedTo + " were sent");
            }
            sendCursor.consumed(peerConsumed);
            return;
        }
        if (peerEnded) {
            throw new RingProtocolException("the peer wrote after the end of its output");
        }
        long produced = peerProduced + (imm & LENGTH);
        receiveCursor.produced(produced); // checked before it counts: a fail-over trusts peerProduced
        peerProduced = produced;
        peerEnded = (imm & END) != 0;
    }

    /**
     * After a poll that had completions for this link: posts what waited for room in the send queue
     * (a publish, credit, the end), then tells the listener.
     */
    @Override
    protected void afterCompletions() {
        if (draining) {
            if (completed >= drainUntil) {
                release(); // the flush came: the device is done with everything this link posted
            }
            return;
        }
        if (lingering) {
            if (closed) {
                return;
            }
            if (endRequest == 0) {
                publishQuietly(); // the end still waited for room in the send queue
            }
            if (doneLingering()) {
                destroy();
            }
            return;
        }
        if (failure == null && !closed) {
            try {
                publish();
                if (receiveCursor.consumed() - creditReturned >= creditQuantum) {
                    returnCreditNow();
                }
            } catch (VerbsException e) {
                fail(e);
            }
        }
        Listener l = listener;
        if (l != null) {
            l.linkActivity();
        }
    }

    /** The context's completion queues broke under this link. */
    void broken(IOException cause) {
        fail(cause);
    }

    /** The link broke outside a completion (a post refused): its listener hears of it at the next dispatch. */
    private void fail(IOException cause) {
        if (failure == null) {
            failure = cause;
            context.touch(this);
        }
    }

    /**
     * Closes the link. When its end of output is posted and the link is sound, the queue pair stays
     * until that request completes (the peer has it then), without holding up the caller: the
     * context destroys it on that completion (or on an error, which RC's retry limit bounds), or
     * its owner does, through {@link #expireLinger()}, when the peer never became ready. Else, or
     * when the context itself closes, it goes at once: see {@link #destroy()}.
     */
    @Override
    public void close() {
        if (closed || lingering) {
            return;
        }
        listener = null;
        if (outputDone && failure == null && !stopped && sendCursor != null
                && (endRequest == 0 || completed < endRequest)) {
            lingering = true;
            context.linger(this);
            return;
        }
        destroy();
    }

    /** Closed, and waiting for its end of output to complete: see {@link #expireLinger()}. */
    public boolean lingering() {
        return lingering && !closed;
    }

    /**
     * The owner's bound on lingering: a link still waiting (a peer that never became ready, or
     * never acknowledged) is destroyed now. Safe to call at any time after close.
     */
    public void expireLinger() {
        if (lingering()) {
            destroy();
        }
    }

    /**
     * The owner's timer for {@link #expireLinger()}: cancelled when the link goes first (its end
     * completed), so a thousand closed links do not leave a thousand timers behind for the bound's length.
     */
    public void boundLinger(Future<?> timer) {
        if (closed) {
            timer.cancel(false);
        } else {
            lingerBound = timer;
        }
    }

    /** A lingering link whose end has completed (or failed): it can go. */
    boolean doneLingering() {
        return endRequest != 0 && completed >= endRequest || failure != null;
    }

    /** The context closes under this link: it goes at once. */
    @Override
    protected void contextClosing() {
        // One link after another, each flush awaited in place (bounded): putting thousands of queue
        // pairs in error at once, to wait once for all, kept SoftRoCE's softirq busy for tens of seconds.
        if (draining) {
            awaitFlushed(drainUntil);
            release();
        } else if (drainQueued) {
            drainQueued = false;
            drainNow();
        } else {
            destroy();
        }
    }

    /** Closed for good: no listener, no linger bound. */
    private void markClosed() {
        closed = true;
        listener = null;
        Future<?> bound = lingerBound;
        if (bound != null) {
            lingerBound = null;
            bound.cancel(false);
        }
    }

    /**
     * ERR, and a last signalled request whose (flush) completion says the device is done with
     * everything before it: only then are the queue pair and the memory released. On a loop, that
     * flush is awaited without holding the loop: the link stays a completion target until it comes
     * ({@link #afterCompletions()}) or the watch's bound passes ({@link #watch}), so a loop that closes
     * thousands of links goes on serving the others meanwhile; and its context drains a few links at
     * a time ({@link RdmaContext#drainLater}), the others waiting closed but untouched (nothing posted,
     * the queue pair still answering its peer), since thousands of queue pairs flushing at once keep
     * SoftRoCE's softirq busy for tens of seconds. Without a loop (a link driven directly), or when
     * the context itself closes, the flush is awaited here, bounded.
     */
    void destroy() {
        if (closed) {
            return;
        }
        markClosed();
        if (sendCursor != null && context.drainsLater()) {
            drainQueued = true;
            context.drainLater(this);
        } else {
            drainNow();
        }
    }

    /**
     * Called by the context when this closed link's turn to drain comes; false when it has gone
     * meanwhile (drained in place as its context closed).
     */
    boolean startDrain() {
        if (!drainQueued) {
            return false;
        }
        drainQueued = false;
        draining = true;
        drainUntil = flushRequest();
        drainDeadline = System.nanoTime() + WAIT_NANOS;
        context.touch(this); // released at the next dispatch if there is nothing to wait for
        return true;
    }

    /** Its context's queues broke: a closed link waiting for its drain, or for its flush, goes now. */
    void releaseIfClosed() {
        if (drainQueued) {
            drainQueued = false;
            drainNow();
        } else if (draining) {
            release();
        }
    }

    /** The drain in place: ERR, the flush awaited here (bounded), then the release. */
    private void drainNow() {
        long last = flushRequest();
        if (last > completed) {
            awaitFlushed(last);
        }
        release();
    }

    /** ERR, and the request whose completion says every earlier one has left the queue (0: none to wait for). */
    private long flushRequest() {
        try {
            qp.toError();
            if (sendCursor == null) {
                return 0; // never connected: nothing was posted
            }
            if (hasRoom(1)) {
                request(0, CREDIT);
                return post(1, true);
            }
            return posted;
        } catch (VerbsException ignored) {
            return 0; // already in error, or going away: destroying it is all that is left
        }
    }

    /** Releases what the device no longer uses (or what it had its time to finish with). */
    private void release() {
        boolean drained = draining;
        draining = false;
        context.forget(this);
        // The window first: a bound type 2 window holds its queue pair, whose destruction would wait
        // for it (rxe blocks there), and its region, which the device will not deregister under it;
        // then the queue pair, then the region; the ring's memory (and the request arrays) only once
        // the device has let go of all three.
        context.retiredRegions().release(arena, window, qp, rxMemory);
        if (staging != null) {
            context.stagingRings().give(this, staging);
            staging = null;
        }
        // The queue pair is gone: the device reads none of these buffers any more.
        while (!holds.isEmpty()) {
            holds.poll().release();
        }
        holdUntil.clear();
        holdStarts.clear();
        holdSpans.clear();
        holdingPublishes = 0;
        for (int i = 0; i < unpostedHolds.size(); i++) {
            unpostedHolds.get(i).release();
        }
        unpostedHolds.clear();
        if (drained) {
            context.drainDone(); // the next closed link starts its drain (none is released inside this call)
        }
    }

    /** Polls (bounded) until request {@code request} has completed. */
    private void awaitCompleted(long request) throws VerbsException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (completed < request && System.nanoTime() < deadline) {
            context.poll();
        }
    }

    /** {@link #awaitCompleted}, on the way out: a queue that cannot be polled flushes nothing more. */
    private void awaitFlushed(long request) {
        if (context.flushesStopped()) {
            return; // a closing context whose device already let one flush go unanswered: release now
        }
        try {
            awaitCompleted(request);
        } catch (VerbsException ignored) {
            // release now
        }
        if (completed < request) {
            context.flushUnanswered();
        }
    }

    @Override
    public String toString() {
        return "RdmaLink(qp " + qp.qpNumber() + ")";
    }
}
