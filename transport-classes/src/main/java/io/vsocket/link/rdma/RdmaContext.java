package io.vsocket.link.rdma;

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
import java.util.List;

/**
 * The verbs resources the rdma links of one event loop share: one completion
 * queue (with its completion channel, whose descriptor the loop waits on) for every queue pair,
 * and one shared receive queue. Every message of the link protocol is an RDMA WRITE_WITH_IMM, whose
 * receive needs no buffer, so the shared receive queue holds empty receives, replenished one for
 * one as they complete. Completions are dispatched to links by queue pair number; a link whose
 * state changed is told once per poll, after the poll ({@link #dispatch()}), so that a link that
 * waits for its own completions while closing never calls into other channels. The device and its
 * protection domain are shared with the other loops' contexts on the same device (see
 * {@link RdmaDevice}). One thread only.
 */
public final class RdmaContext implements AutoCloseable {
    private static final int RECEIVES = 1024;
    /** Completion queue entries: every receive, plus the signalled sends each link may have out. */
    private static final int CQ_ENTRIES = 16 * 1024;
    /** How many links fit the completion queue without any chance of overrunning it. */
    static final int MAX_LINKS = (CQ_ENTRIES - RECEIVES) / RdmaLink.MAX_SIGNALED;
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
    private final CompletionQueue cq;
    private final SharedReceiveQueue srq;
    private final CompletionBatch batch = new CompletionBatch(BATCH);
    private final Arena arena = Arena.ofShared();
    /** FILL_CHAIN empty receives linked in a list: posting from element k posts FILL_CHAIN - k of them. */
    private final MemorySegment receiveChain;
    private final Int2ObjectHashMap<RdmaLink> links = new Int2ObjectHashMap<>();
    private final List<RdmaLink> touched = new ArrayList<>();
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
        this.cq = q;
        this.srq = s;
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

    ProtectionDomain protectionDomain() {
        return device.protectionDomain();
    }

    CompletionQueue completionQueue() {
        return cq;
    }

    SharedReceiveQueue sharedReceiveQueue() {
        return srq;
    }

    int port() {
        return port;
    }

    GidEntry gid() {
        return gid;
    }

    Mtu mtu() {
        return mtu;
    }

    /** The descriptor that becomes readable on a completion, once notification is armed. */
    public int completionFd() {
        return channel.fd();
    }

    /** The number of live links (for leak checks). */
    public int linkCount() {
        return links.size();
    }

    /** A new link on this context, receiving into a ring of {@code ringSize} bytes. */
    public RdmaLink newLink(int ringSize) throws IOException {
        if (closed) {
            throw new IllegalStateException("the rdma context of this event loop is closed");
        }
        if (links.size() >= MAX_LINKS) {
            throw new IOException("this event loop already has " + links.size()
                    + " rdma links, as many as its completion queue serves");
        }
        RdmaLink link = new RdmaLink(this, ringSize);
        links.put(link.qpNumber(), link);
        return link;
    }

    void forget(RdmaLink link) {
        links.remove(link.qpNumber());
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
     * Polls the completion queue once and hands each completion to its link; a link whose
     * completion failed, or whose peer broke the protocol, is failed (its {@link RdmaLink#failure()}
     * set) and the others go on. Links whose state changed are told at {@link #dispatch()}. Returns
     * the number of completions.
     */
    public int poll() throws VerbsException {
        int n = cq.poll(batch);
        int receives = 0;
        for (int i = 0; i < n; i++) {
            if (RdmaLink.isReceive(batch.opcode(i)) || !batch.isSuccess(i) && batch.wrId(i) == 0) {
                receives++;
            }
            RdmaLink link = links.get(batch.qpNumber(i));
            if (link != null) {
                link.completed(batch, i);
                if (!link.touched) {
                    link.touched = true;
                    touched.add(link);
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
     * Tells every link touched by the polls since the last dispatch (see {@link RdmaLink#afterCompletions()}),
     * including polls made outside the loop's own (a channel's before it writes, a closing link's):
     * the loop calls this every turn, whether its own poll found anything or not. Returns how many.
     */
    public int dispatch() {
        // Index loop: a listener may close a link (removing nothing from this list) or poll again,
        // adding links at the end, which this same pass then tells.
        int told = 0;
        for (; told < touched.size(); told++) {
            RdmaLink link = touched.get(told);
            link.touched = false;
            link.afterCompletions();
        }
        touched.clear();
        return told;
    }

    /**
     * Before the loop blocks: asks for an event on the next completion, then polls once more (a
     * completion that came before the request raises no event). True when something came.
     */
    public boolean armAndCheck() throws VerbsException {
        cq.requestNotification(false);
        return poll() > 0;
    }

    /**
     * The completion channel is readable: takes one event (acknowledged in batches). One: the queue
     * fires once per arming, and the loop arms it only before it blocks, so there is rarely a second;
     * if there is, the descriptor stays readable and the next wait returns at once. Reading until
     * EAGAIN would cost every wake-up a second system call for nothing.
     */
    public void takeEvents() throws VerbsException {
        if (channel.awaitEvent() != null && cq.unacknowledgedEvents() >= ACK_EVERY) {
            cq.acknowledgeEvents();
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        for (RdmaLink link : links.values().toArray(new RdmaLink[0])) {
            link.destroy();
        }
        touched.clear();
        Resources.closeQuietly(srq, cq, channel);
        device.release();
        batch.close();
        arena.close();
    }
}
