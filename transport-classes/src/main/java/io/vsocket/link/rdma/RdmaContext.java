package io.vsocket.link.rdma;

import io.netty.channel.EventLoop;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.ffm.ibverbs.ibv_recv_wr;
import io.vsocket.link.Resources;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionChannel;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.Mtu;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.SharedReceiveQueue;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;
import org.agrona.collections.Int2ObjectHashMap;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The verbs resources the rdma links of one event loop share: completion queues on one completion
 * channel (whose descriptor the loop waits on), and one shared receive queue. The first queue is
 * made with the context and serves every other user ({@link #completionQueue()}) and the first
 * links; when the links have taken what they may of it, the next links go on a further queue, made
 * when needed and destroyed once its last link has gone, so the number of links a loop can hold is
 * bounded by the device (its queue pairs, queues and memory), not by one queue's size. Every
 * message of the link protocol is an RDMA WRITE_WITH_IMM, whose receive needs no buffer, so the shared receive queue holds empty receives, replenished one for
 * one as they complete. Completions are dispatched by queue pair number to their
 * {@link QpCompletions}: the links, and whatever else of the loop runs a queue pair on this
 * completion queue ({@link #register}); a target whose state changed is told once per poll, after
 * the poll ({@link #dispatch()}), so that a link that waits for its own completions while closing
 * never calls into other channels. The completion queue's entries are reserved by their users
 * ({@link #reserveCompletions}), so that no mix of links and other queue pairs can overrun it.
 * State other users keep per context (a datagram receive pool) lives here too ({@link #shared}) and
 * is closed with it. The device and its protection domain are shared with the other loops' contexts
 * on the same device (see {@link RdmaDevice}). One thread only.
 */
public final class RdmaContext implements AutoCloseable {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaContext.class);
    private static final int RECEIVES = 1024;
    /** Entries asked for each completion queue: every receive, plus the signalled sends of its links. */
    private static final int CQ_ENTRIES = 16 * 1024;
    /** Of the first queue, the entries links leave to other users (datagram endpoints and their receives). */
    private static final int OTHERS_SHARE = 4 * 1024;
    /** Requests out this long without a completion mean the path is gone (0: never judged so). */
    static final long STALL_MILLIS = Long.getLong("io.vsocket.rdmaStallMillis", 2000L);
    /** Completion events are acknowledged this many at a time (the acknowledgement takes a lock). */
    private static final int ACK_EVERY = 64;
    /** Receives are posted in chains: the first fill, and after each poll what it consumed (at most a batch). */
    private static final int FILL_CHAIN = 64;
    private static final int BATCH = 32;

    private final RdmaDevice device;
    private final int port;
    private final GidEntry gid;
    private final Mtu mtu;
    private final CompletionChannel channel;
    /** The first queue, made with the context and kept until it closes: links and every other user. */
    private final LinkQueue first;
    /** Every queue, the first at index 0; further ones hold links only. */
    private final ArrayList<LinkQueue> queues = new ArrayList<>();
    /** A further queue lost its last link: destroyed at the next {@link #dispatch()}, if still empty. */
    private boolean emptied;
    private final SharedReceiveQueue srq;
    /** Regions of closed links and freed rings that the device would not deregister yet. */
    private final RetiredRegions retiredRegions = new RetiredRegions();
    /** The links' staging rings, given back by idle links (see {@link StagingRings}). */
    private final StagingRings stagingRings;
    private final CompletionBatch batch = new CompletionBatch(BATCH);
    private final Arena arena = Arena.ofShared();
    /** FILL_CHAIN empty receives linked in a list: posting from element k posts FILL_CHAIN - k of them. */
    private final MemorySegment receiveChain;
    private final Int2ObjectHashMap<QpCompletions> targets = new Int2ObjectHashMap<>();
    private final List<QpCompletions> touched = new ArrayList<>();
    /** Closed links waiting for their drain to start ({@link #drainLater}), and drains under way. */
    private final java.util.ArrayDeque<RdmaLink> drainQueue = new java.util.ArrayDeque<>();
    private int draining;
    /** The completion queues failed: closed links drain in place (see {@link #queuesBroken}). */
    private boolean queuesBroken;
    /** A link's flush went unanswered for its whole bound (see {@link #flushUnanswered}). */
    private boolean flushUnanswered;
    /** Where completions of queue pairs no longer registered go, other than stream receives (or null). */
    private QpCompletions orphans;
    private int links;
    /** The loop the links' timers run on; null until a channel's link started. */
    private EventLoop loop;
    /** The pending watch over the links' requests, while there are links (or releases to try again). */
    private Future<?> watch;
    /** Other users' per-context state, by their key, in the order it was made (closed in reverse). */
    private final Map<Object, AutoCloseable> shared = new LinkedHashMap<>();
    private boolean closed;

    private RdmaContext(RdmaDevice device, int port, GidEntry gid) throws VerbsException {
        this.device = device;
        this.port = port;
        this.gid = gid;
        CompletionChannel ch = null;
        CompletionQueue q = null;
        SharedReceiveQueue s = null;
        try {
            VerbsDevice verbs = device.verbs();
            this.mtu = verbs.queryPort(port).activeMtu();
            ch = verbs.createCompletionChannel();
            ch.setNonBlocking();
            q = verbs.createCompletionQueue(Math.min(CQ_ENTRIES, verbs.queryDevice().maxCqe()), ch);
            s = device.protectionDomain().createSharedReceiveQueue(RECEIVES, 1);
        } catch (VerbsException | RuntimeException e) {
            Resources.closeQuietly(s, q, ch);
            batch.close();
            arena.close();
            throw e;
        }
        this.channel = ch;
        this.first = new LinkQueue(q, Math.max(q.capacity() - OTHERS_SHARE, RECEIVES + RdmaLink.MAX_SIGNALED));
        queues.add(first);
        this.srq = s;
        this.stagingRings = new StagingRings(device.protectionDomain(), retiredRegions);
        MemorySegment chain = arena.allocate(ibv_recv_wr.LAYOUT, FILL_CHAIN);
        long size = ibv_recv_wr.LAYOUT.byteSize();
        for (int i = 0; i < FILL_CHAIN; i++) {
            ibv_recv_wr.next(chain.asSlice(i * size, size), i + 1 < FILL_CHAIN
                    ? chain.asSlice((i + 1) * size, size) : MemorySegment.NULL);
        }
        this.receiveChain = chain;
        for (int i = 0; i < RECEIVES; i += FILL_CHAIN) {
            srq.postReceive(chain);
        }
    }

    /** A context on {@code port} of the device named {@code device} (shared with other loops), addressing peers from {@code gid}. */
    public static RdmaContext open(String device, int port, GidEntry gid) throws IOException {
        RdmaDevice shared = RdmaDevice.acquire(device);
        try {
            return new RdmaContext(shared, port, gid);
        } catch (VerbsException | RuntimeException e) {
            shared.release();
            throw e;
        }
    }

    RdmaDevice device() {
        return device;
    }

    /** Whether this context's device is being removed (then its loop closes it once its links are gone). */
    boolean deviceRemoved() {
        return device.isRemoved();
    }

    /** The device's protection domain, shared by every loop's context on the device. */
    public ProtectionDomain protectionDomain() {
        return device.protectionDomain();
    }

    /**
     * The completion queue queue pairs of other users complete on (see {@link #register} and
     * {@link #reserveCompletions}): the context's first, which lives as long as the context.
     */
    public CompletionQueue completionQueue() {
        return first.cq;
    }

    StagingRings stagingRings() {
        return stagingRings;
    }

    RetiredRegions retiredRegions() {
        return retiredRegions;
    }

    /** The loop this context's links run on, for their timers (once a channel's link has started). */
    void timersOn(EventLoop loop) {
        if (this.loop == null) {
            this.loop = loop;
            stagingRings.sweepOn(loop);
        }
        watchLinks();
    }

    /**
     * Runs the watch over the links' requests ({@link RdmaLink#watch}) every sixteenth of
     * {@link #STALL_MILLIS} while this context has links and their loop is known: one timer for the
     * loop, not one per link.
     */
    private void watchLinks() {
        if (watch != null || loop == null || closed || links == 0 && retiredRegions.waiting() == 0
                || STALL_MILLIS <= 0) {
            return;
        }
        try {
            // Four times per probe time: a quiet link probes its peer between a quarter and five sixteenths of
            // the stall time (at twice, up to three eighths: the tick alone cost a fail-over up to 250 ms).
            watch = loop.schedule(this::watchTick, Math.max(STALL_MILLIS / (4 * RdmaLink.PROBE_FRACTION), 1),
                    TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // the loop is shutting down, and its links with it
        }
    }

    private void watchTick() {
        watch = null;
        if (closed) {
            return;
        }
        try {
            // Completions that came while the loop was held up (a blocking handler, a collector
            // pause) count first: a late tick must not take a busy loop for a broken path.
            poll();
        } catch (VerbsException e) {
            // the loop's own poll reports a broken queue
        }
        long now = System.nanoTime();
        long stallNanos = TimeUnit.MILLISECONDS.toNanos(STALL_MILLIS);
        for (QpCompletions target : targets.values().toArray(new QpCompletions[0])) {
            if (target instanceof RdmaLink link) {
                link.watch(now, stallNanos);
            }
        }
        dispatch(); // links that failed hear of it now
        retiredRegions.retry();
        watchLinks();
    }

    /**
     * Staging rings this process holds registered now, held by links or pooled, on every loop (each
     * is a memory region the device counts; for leak checks, which compare the device's counts).
     */
    public static int stagingRingsOpen() {
        return StagingRings.Ring.OPEN.get();
    }

    /** The rdma links' receives: empty, for WRITE_WITH_IMM only. */
    SharedReceiveQueue sharedReceiveQueue() {
        return srq;
    }

    /** The device port (from 1). */
    public int port() {
        return port;
    }

    /** The RoCE v2 GID this context's queue pairs send from (its index is the source GID index). */
    public GidEntry gid() {
        return gid;
    }

    /** The port's active MTU. */
    public Mtu mtu() {
        return mtu;
    }

    /** Closed: nothing new may be made on it (its queue pairs and shared state are gone). */
    public boolean isClosed() {
        return closed;
    }

    /** The descriptor that becomes readable on a completion, once notification is armed. */
    public int completionFd() {
        return channel.fd();
    }

    /** Runs {@code task} on the links' loop after {@code millis} (nothing if the loop is not known or is going). */
    void schedule(Runnable task, long millis) {
        if (loop == null || closed) {
            return;
        }
        try {
            loop.schedule(task, millis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // the loop is shutting down, and its links with it
        }
    }

    /**
     * Closed links drain later, a few at a time, without holding their loop
     * ({@code -Dio.vsocket.rdmaDrainLater=true}); by default each close drains in place, holding its
     * loop until its flush (at most a second). Off by default: in the SoftRoCE VM, with it on, one
     * run in six of 5,000 closes at once never finished — the guest stuck in SoftRoCE's softirq
     * (kernel soft lockups), the closes no longer slowed by their own drains; in place, none did.
     */
    static final boolean DRAIN_LATER = Boolean.getBoolean("io.vsocket.rdmaDrainLater");

    /**
     * Whether a closed link may wait for its flush completion after its close returns (the loop
     * polls for it, and the watch bounds the wait): chosen ({@link #DRAIN_LATER}), the loop is known
     * and its watch runs.
     */
    boolean drainsLater() {
        return DRAIN_LATER && loop != null && !closed && !queuesBroken && STALL_MILLIS > 0;
    }

    /**
     * Drains under way at most: each puts a queue pair in error and awaits its flush. More at once
     * only load the device (SoftRoCE flushes in softirq, and thousands at once held a CPU of the
     * test VM for over 20 s); a closed link waits its turn untouched, its queue pair still answering.
     */
    static final int MAX_DRAINS = 16;

    /** A closed link to drain ({@link RdmaLink#startDrain()}) now, or once fewer than {@link #MAX_DRAINS} are. */
    void drainLater(RdmaLink link) {
        if (draining < MAX_DRAINS && link.startDrain()) {
            draining++;
        } else {
            drainQueue.add(link);
        }
    }

    /** A drain ended (its link released): the next closed link starts its own. */
    void drainDone() {
        draining--;
        if (queuesBroken || closed) {
            return; // no flush will be seen: see queuesBroken
        }
        RdmaLink next;
        while (draining < MAX_DRAINS && (next = drainQueue.poll()) != null) {
            if (next.startDrain()) {
                draining++;
            }
        }
    }

    /** The number of live links (for leak checks; closed links waiting for their flush count). */
    public int linkCount() {
        return links;
    }

    /** The number of queue pairs whose completions this context dispatches, links included (for leak checks). */
    public int targetCount() {
        return targets.size();
    }

    /** A new link on this context, receiving into a ring of {@code ringSize} bytes. */
    public RdmaLink newLink(int ringSize) throws IOException {
        requireOpen();
        if (device.isRemoved()) {
            throw new IOException("the RDMA device " + device.name() + " is being removed");
        }
        LinkQueue queue = queueWithRoom();
        RdmaLink link = new RdmaLink(this, queue.cq, ringSize);
        queue.reserved += RdmaLink.MAX_SIGNALED;
        queue.links++;
        links++;
        targets.put(link.qpNumber(), link);
        watchLinks();
        return link;
    }

    /** The first queue with room for one more link's completions, a new one if none has. */
    private LinkQueue queueWithRoom() throws IOException {
        for (int i = 0; i < queues.size(); i++) {
            LinkQueue queue = queues.get(i);
            if (queue.reserved + RdmaLink.MAX_SIGNALED <= queue.linkLimit) {
                return queue;
            }
        }
        CompletionQueue cq;
        try {
            cq = device.verbs().createCompletionQueue(first.cq.capacity(), channel);
        } catch (VerbsException e) {
            throw new IOException("this event loop has " + links + " rdma links on " + queues.size()
                    + " completion queues and the device gives it no other: " + e.getMessage(), e);
        }
        if (cq.capacity() < RECEIVES + RdmaLink.MAX_SIGNALED) {
            Resources.closeQuietly(cq);
            throw new IOException("the device made a completion queue of " + cq.capacity() + " entries, too few for a link");
        }
        LinkQueue queue = new LinkQueue(cq, cq.capacity());
        queues.add(queue);
        return queue;
    }

    void forget(RdmaLink link) {
        if (targets.remove(link.qpNumber()) != null) {
            LinkQueue queue = queueOf(link.completionQueue());
            queue.reserved -= RdmaLink.MAX_SIGNALED;
            queue.links--;
            links--;
            // Not destroyed here: the link's queue pair still exists, and a poll may be going over it.
            emptied |= queue.links == 0 && queue != first;
        }
    }

    private LinkQueue queueOf(CompletionQueue cq) {
        for (int i = 0; i < queues.size(); i++) {
            if (queues.get(i).cq == cq) {
                return queues.get(i);
            }
        }
        throw new IllegalStateException(cq + " is not a queue of this context");
    }

    /** Destroys the further queues whose links have all gone (their queue pairs with them). */
    private void destroyEmptied() {
        emptied = false;
        for (int i = queues.size() - 1; i > 0; i--) {
            LinkQueue queue = queues.get(i);
            if (queue.links == 0) {
                queues.remove(i);
                Resources.closeQuietly(queue.cq);
            }
        }
    }

    /**
     * Promises {@code entries} of the completion queue to a user outside this package: as many
     * completions as it can have outstanding at once (its posted receives plus its signalled sends),
     * so the queue can never overrun. Throws when the queue has no room left for them; give them back
     * with {@link #releaseCompletions}.
     */
    public void reserveCompletions(int entries) throws IOException {
        requireOpen();
        if (entries < 0 || first.reserved + entries > first.cq.capacity()) {
            throw new IOException("this event loop's completion queue has no room for " + entries
                    + " more entries (" + first.reserved + " of " + first.cq.capacity() + " reserved, "
                    + first.links + " rdma links on it)");
        }
        first.reserved += entries;
    }

    /** Gives back entries taken with {@link #reserveCompletions}. */
    public void releaseCompletions(int entries) {
        first.reserved -= entries;
    }

    /**
     * Sends the completions of queue pair {@code qpNumber} (which must complete on
     * {@link #completionQueue()}) to {@code target} until {@link #unregister}. The context's own
     * receives are the links' alone: a target's queue pair brings its own (its own shared receive
     * queue, say), and every work request it posts has a non-zero {@code wr_id}, since a failed
     * completion with {@code wr_id} 0 of a queue pair no longer registered is taken for a link's
     * receive. Unregister only once the queue pair can complete nothing more (flushed, or destroyed).
     */
    public void register(int qpNumber, QpCompletions target) {
        requireOpen();
        if (target.streamReceives) {
            throw new IllegalArgumentException("links are made with newLink");
        }
        QpCompletions old = targets.putIfAbsent(qpNumber, target);
        if (old != null) {
            throw new IllegalStateException("queue pair " + qpNumber + " is already registered to " + old);
        }
    }

    /**
     * Where the completions of queue pairs no longer registered go (other than stream receives,
     * which the context takes back itself): a receive a closing queue pair consumed from a shared
     * receive queue of code outside this package, which only that code can give back. Null: none.
     */
    public void orphans(QpCompletions target) {
        orphans = target;
    }

    /** Stops dispatching to the target of {@code qpNumber}; true when there was one. */
    public boolean unregister(int qpNumber) {
        QpCompletions target = targets.get(qpNumber);
        if (target == null || target.streamReceives) {
            return false;
        }
        targets.remove(qpNumber);
        return true;
    }

    /**
     * The state registered as {@code key}, made by {@code factory} on first use; it is closed with
     * the context (in the reverse order of making, after every registered target), or earlier by
     * {@link #closeShared}. For resources every user of the loop's context shares, such as one
     * receive pool for every datagram endpoint of the loop.
     */
    public <T extends AutoCloseable> T shared(Object key, SharedFactory<T> factory) throws IOException {
        requireOpen();
        AutoCloseable existing = shared.get(key);
        if (existing != null) {
            @SuppressWarnings("unchecked")
            T t = (T) existing;
            return t;
        }
        T made = factory.create(this);
        shared.put(key, made);
        return made;
    }

    /** Closes and forgets the state registered as {@code key}, if any (its last user is gone). */
    public void closeShared(Object key) {
        AutoCloseable state = shared.remove(key);
        if (state != null) {
            Resources.closeQuietly(state);
        }
    }

    /** Makes per-context state for {@link #shared}. */
    @FunctionalInterface
    public interface SharedFactory<T extends AutoCloseable> {
        T create(RdmaContext context) throws IOException;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the rdma context of this event loop is closed");
        }
    }

    /**
     * A closed link waits for its end of output to complete; its completions still come here (it
     * stays in the map) and destroy it then. Nothing else is needed: the end is signalled, so its
     * completion (or its error, after RC's bounded retries) always comes.
     */
    void linger(RdmaLink link) {
        if (closed) {
            link.destroy();
        }
    }

    /**
     * Polls the completion queue once and hands each completion to its queue pair's target; a link
     * whose completion failed, or whose peer broke the protocol, is failed (its
     * {@link RdmaLink#failure()} set) and the others go on. Targets whose state changed are told at
     * {@link #dispatch()}. Returns the number of completions.
     */
    public int poll() throws VerbsException {
        int n = 0;
        // Index loop: a target told of a completion never destroys a queue (that waits for dispatch).
        for (int i = 0; i < queues.size(); i++) {
            n += poll(queues.get(i).cq);
        }
        return n;
    }

    private int poll(CompletionQueue cq) throws VerbsException {
        int n = cq.poll(batch);
        int receives = 0;
        for (int i = 0; i < n; i++) {
            QpCompletions target = targets.get(batch.qpNumber(i));
            // Only a link's receives come from the stream SRQ; a queue pair already gone is judged by
            // the completion alone (other users never post a wr_id of 0, nor take RDMA WRITE_WITH_IMM).
            if ((target == null || target.streamReceives) && RdmaLink.consumedStreamReceive(batch, i)) {
                receives++;
            } else if (target == null) {
                target = orphans;
            }
            if (target != null) {
                target.completed(batch, i);
                if (!target.touched) {
                    target.touched = true;
                    touched.add(target);
                }
            }
        }
        if (receives > 0) {
            // What this poll consumed goes back in one call, before any link can post more work.
            long size = ibv_recv_wr.LAYOUT.byteSize();
            srq.postReceive(receiveChain.asSlice((FILL_CHAIN - receives) * size));
        }
        return n;
    }

    /**
     * The completion queues cannot be polled any more ({@code cause}): every link fails, and closed
     * links release their queue pairs and memory now, since no flush completion will be seen (the
     * queue pair goes first, so the device writes into none of that memory after).
     */
    void queuesBroken(IOException cause) {
        queuesBroken = true;
        failLinks(cause);
        for (QpCompletions target : targets.values().toArray(new QpCompletions[0])) {
            if (target instanceof RdmaLink link) {
                link.releaseIfClosed();
            }
        }
        drainQueue.clear();
    }

    /**
     * A link waited its full bound for a flush that did not come. Once the context is closing, the
     * links after it do not wait too: the device flushes nothing (a removed device, a broken queue),
     * and link after link would hold the loop a second each. (Released without the flush is still
     * safe: the queue pair is destroyed before the memory under it.)
     */
    void flushUnanswered() {
        if (closed) {
            flushUnanswered = true;
        }
    }

    /** Closing, and a flush already went unanswered: links release without waiting (see {@link #flushUnanswered}). */
    boolean flushesStopped() {
        return closed && flushUnanswered;
    }

    /** Every link fails with {@code cause} (the queues broke, the device is going) and is told now. */
    void failLinks(IOException cause) {
        for (QpCompletions target : targets.values().toArray(new QpCompletions[0])) {
            if (target instanceof RdmaLink link) {
                link.broken(cause);
            }
        }
        dispatch();
    }

    /** {@code target}'s state changed outside a poll: it is told at the next {@link #dispatch()}. */
    void touch(QpCompletions target) {
        if (!target.touched) {
            target.touched = true;
            touched.add(target);
        }
    }

    /**
     * Tells every target touched by the polls since the last dispatch (see
     * {@link QpCompletions#afterCompletions()}), including polls made outside the loop's own (a
     * channel's before it writes, a closing link's): the loop calls this every turn, whether its own
     * poll found anything or not. Returns how many.
     */
    public int dispatch() {
        // Index loop: a listener may close a link (removing nothing from this list) or poll again,
        // adding targets at the end, which this same pass then tells.
        int told = 0;
        for (; told < touched.size(); told++) {
            QpCompletions target = touched.get(told);
            target.touched = false;
            target.afterCompletions();
        }
        touched.clear();
        if (emptied) {
            destroyEmptied();
        }
        return told;
    }

    /**
     * Before the loop blocks: asks for an event on the next completion, then polls once more (a
     * completion that came before the request raises no event). True when something came.
     */
    public boolean armAndCheck() throws VerbsException {
        for (int i = 0; i < queues.size(); i++) {
            queues.get(i).cq.requestNotification(false);
        }
        return poll() > 0;
    }

    /**
     * The completion channel is readable: takes one event (acknowledged in batches). One: the queue
     * fires once per arming, and the loop arms it only before it blocks, so there is rarely a second;
     * if there is, the descriptor stays readable and the next wait returns at once. Reading until
     * EAGAIN would cost every wake-up a second system call for nothing.
     */
    public void takeEvents() throws VerbsException {
        CompletionQueue fired = channel.awaitEvent();
        if (fired != null && fired.unacknowledgedEvents() >= ACK_EVERY) {
            fired.acknowledgeEvents();
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        if (watch != null) {
            watch.cancel(false);
            watch = null;
        }
        for (QpCompletions target : targets.values().toArray(new QpCompletions[0])) {
            try {
                target.contextClosing();
            } catch (RuntimeException e) {
                // One target's fault must not keep the queues, the domain and the device open.
                logger.warn("a queue pair's release failed as its rdma context closed", e);
            }
        }
        targets.clear();
        touched.clear();
        // Every link is gone, and gave its staging ring back: the pool's regions go before the domain.
        stagingRings.close();
        retiredRegions.close();
        // Users' shared state after their queue pairs (a shared receive queue cannot go before them),
        // the last made first.
        AutoCloseable[] states = shared.values().toArray(new AutoCloseable[0]);
        shared.clear();
        for (int i = states.length - 1; i >= 0; i--) {
            Resources.closeQuietly(states[i]);
        }
        Resources.closeQuietly(srq);
        for (int i = queues.size() - 1; i >= 0; i--) {
            Resources.closeQuietly(queues.get(i).cq);
        }
        queues.clear();
        Resources.closeQuietly(channel);
        device.release();
        batch.close();
        arena.close();
    }

    /** A completion queue of the context and the entries promised of it. */
    private static final class LinkQueue {
        final CompletionQueue cq;
        /** What links may take of it: all of a further queue, the first's less what other users may need. */
        final int linkLimit;
        /** Entries promised: the stream receives (any of which may complete here), its links' signalled sends, others'. */
        int reserved = RECEIVES;
        int links;

        LinkQueue(CompletionQueue cq, int linkLimit) {
            this.cq = cq;
            this.linkLimit = linkLimit;
        }
    }
}
