package io.vsocket.datagram;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.ffm.ibverbs.ibv_recv_wr;
import io.vsocket.ffm.ibverbs.ibv_sge;
import io.vsocket.link.Resources;
import io.vsocket.link.rdma.QpCompletions;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.AddressHandle;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.SharedReceiveQueue;
import io.vsocket.verbs.VerbsException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;

/**
 * The receives of every UD endpoint of one event loop on one device port: a shared receive queue
 * with {@link #SLOTS} registered slots, each the 40-byte GRH slot a UD receive starts with plus one
 * path MTU of payload. One pool per {@link RdmaContext} (per loop and port) rather than per endpoint:
 * a loop's datagram channels share the memory, and a burst on one channel may use all of it.
 *
 * <p>A slot goes back to the queue only after its datagram was handed over ({@link #giveBack}, then
 * {@link #repost} chains every returned slot into one post). When a burst outruns the posted
 * receives, the device drops what finds none (UD has no flow control): datagrams are lost, as UDP
 * loses them, and nothing else happens.
 *
 * <p>Each slot's receive request carries {@code RECEIVE | slot} as its {@code wr_id}, never 0, so the
 * context never takes one of these for a stream receive, and an endpoint tells a failed receive from
 * a failed send. Made by the first endpoint of the loop ({@link #acquire}), closed with the last
 * ({@link #release}). A receive a closing endpoint never saw complete (its queue pair took the slot
 * and completed after the endpoint stopped listening) reaches the pool as the context's orphan
 * ({@link RdmaContext#orphans}) and goes back to the queue. Loop thread only.
 */
final class UdReceivePool implements AutoCloseable {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(UdReceivePool.class);
    /** Receive slots per loop and port: -Dio.vsocket.udReceiveSlots, 16 to 8192 (256: about 1 MiB at a 4096-byte MTU). */
    static final int SLOTS = Math.min(8192, Math.max(16, Integer.getInteger("io.vsocket.udReceiveSlots", 256)));
    /** The Global Route Header slot in front of every UD receive (an IPv6 header, or RoCE v2's IPv4 one in its last 20 bytes). */
    static final int GRH = 40;
    /** Bit 62 of a receive's wr_id: set on the pool's receives, never on an endpoint's sends. */
    static final long RECEIVE = 1L << 62;
    private static final Object KEY = UdReceivePool.class;

    private final RdmaContext context;
    private final Arena arena = Arena.ofShared();
    private final int slots;
    private final int slotStride;
    private final int slotLength;
    private final MemorySegment slab;
    private final ByteBuffer slabView;
    private final MemoryRegion region;
    private final SharedReceiveQueue srq;
    /** The loop's own address: where closing endpoints send the last, flushed request that proves them drained. */
    private final AddressHandle self;
    /** One receive request per slot, its scatter entry fixed: a repost only links them. */
    private final MemorySegment[] requests;
    private final int[] lengths;
    private final int[] sources;
    private final int[] returned;
    private int returnedCount;
    private int users;
    private boolean failed;

    private UdReceivePool(RdmaContext context) throws IOException {
        this.context = context;
        this.slots = SLOTS;
        this.slotLength = GRH + context.mtu().bytes();
        this.slotStride = (slotLength + 63) & ~63;
        this.lengths = new int[slots];
        this.sources = new int[slots];
        this.returned = new int[slots];
        ProtectionDomain pd = context.protectionDomain();
        context.reserveCompletions(slots);
        MemoryRegion mr = null;
        SharedReceiveQueue q = null;
        AddressHandle ah = null;
        try {
            slab = arena.allocate((long) slots * slotStride, 4096);
            mr = pd.register(slab, IBV_ACCESS_LOCAL_WRITE);
            q = pd.createSharedReceiveQueue(slots, 1);
            ah = pd.createAddressHandle(AddressVector.roce(context.gid().gid(), context.gid().index(), context.port()));
            MemorySegment wrs = arena.allocate(ibv_recv_wr.LAYOUT, slots);
            MemorySegment sges = arena.allocate(ibv_sge.LAYOUT, slots);
            requests = new MemorySegment[slots];
            for (int slot = 0; slot < slots; slot++) {
                MemorySegment sge = sges.asSlice(slot * ibv_sge.sizeof(), ibv_sge.LAYOUT);
                ibv_sge.addr(sge, slab.address() + (long) slot * slotStride);
                ibv_sge.length(sge, slotLength);
                ibv_sge.lkey(sge, mr.lkey());
                MemorySegment wr = wrs.asSlice(slot * ibv_recv_wr.sizeof(), ibv_recv_wr.LAYOUT);
                requests[slot] = wr;
                ibv_recv_wr.wr_id(wr, RECEIVE | slot);
                ibv_recv_wr.sg_list(wr, sge);
                ibv_recv_wr.num_sge(wr, 1);
                returned[returnedCount++] = slot;
            }
            this.region = mr;
            this.srq = q;
            this.self = ah;
            this.slabView = slab.asByteBuffer();
            context.orphans(orphans);
            repost();
            if (failed) {
                throw new IOException("cannot post the datagram receives of " + this);
            }
        } catch (IOException | RuntimeException e) {
            Resources.closeQuietly(ah, q, mr);
            arena.close();
            context.releaseCompletions(slots);
            throw e;
        }
    }

    /** The pool of {@code context}, made now if no endpoint of it has one; each call needs one {@link #release()}. */
    static UdReceivePool acquire(RdmaContext context) throws IOException {
        UdReceivePool pool = context.shared(KEY, UdReceivePool::new);
        pool.users++;
        return pool;
    }

    /** One endpoint fewer; the last one closes the pool (its queue pair gone first: a queue in use cannot go). */
    void release() {
        if (--users == 0) {
            context.closeShared(KEY);
        }
    }

    SharedReceiveQueue sharedReceiveQueue() {
        return srq;
    }

    AddressHandle self() {
        return self;
    }

    int slots() {
        return slots;
    }

    static boolean isReceive(long wrId) {
        return (wrId & RECEIVE) != 0;
    }

    static int slotOf(long wrId) {
        return (int) (wrId & ~RECEIVE);
    }

    /** Notes what completion said of {@code slot}: the bytes it received (GRH included) and the sender's queue pair. */
    void received(int slot, int byteLength, int sourceQpn) {
        lengths[slot] = byteLength;
        sources[slot] = sourceQpn;
    }

    /** Bytes received into {@code slot}, its GRH slot included. */
    int length(int slot) {
        return lengths[slot];
    }

    int sourceQpn(int slot) {
        return sources[slot];
    }

    MemorySegment memory() {
        return slab;
    }

    /** The same memory as a buffer, for copies into Netty buffers (loop thread: position and limit are shared). */
    ByteBuffer view() {
        return slabView;
    }

    /** Where {@code slot} starts in {@link #memory()}: its GRH slot, then the datagram. */
    long offset(int slot) {
        return (long) slot * slotStride;
    }

    /** Receives of endpoints already gone: their slots come back. */
    private final QpCompletions orphans = new QpCompletions() {
        @Override
        protected void completed(CompletionBatch batch, int i) {
            long wrId = batch.wrId(i);
            if (isReceive(wrId) && slotOf(wrId) < slots) {
                orphaned++;
                giveBack(slotOf(wrId));
            }
        }

        @Override
        protected void afterCompletions() {
            repost();
        }

        @Override
        protected void contextClosing() {
            // Nothing registered: the pool is closed with the context's shared state.
        }
    };
    private long orphaned;

    /** Receives that completed after their endpoint was gone, and came back to the pool. */
    long orphaned() {
        return orphaned;
    }

    /** {@code slot} may take a datagram again: posted at the next {@link #repost()}. */
    void giveBack(int slot) {
        returned[returnedCount++] = slot;
    }

    /** Posts every slot given back since the last repost, in one chained call. */
    void repost() {
        int n = returnedCount;
        if (n == 0 || failed) {
            return;
        }
        for (int i = 0; i < n; i++) {
            ibv_recv_wr.next(requests[returned[i]], i + 1 < n ? requests[returned[i + 1]] : MemorySegment.NULL);
        }
        try {
            srq.postReceive(requests[returned[0]]);
        } catch (VerbsException | RuntimeException e) {
            // The device refused the queue it made: its datagrams stop (senders fall back to UDP when
            // their routes expire), and the rest of the loop goes on.
            failed = true;
            logger.warn("{}: cannot post datagram receives; UD datagrams are not received on this loop any more",
                    this, e);
        }
        returnedCount = 0;
    }

    @Override
    public void close() {
        // Every queue pair on the queue is gone (the endpoints release the pool after destroying
        // theirs; the context closes shared state after its queue pairs).
        context.orphans(null);
        Resources.closeQuietly(self, srq, region);
        if (!srq.isOpen() && !region.isOpen()) {
            arena.close();
        } else {
            // Receives may still be posted into the slots: the device could write into freed memory.
            logger.warn("{}: its receive queue or memory region could not be released; keeping the memory", this);
        }
        context.releaseCompletions(slots);
    }

    @Override
    public String toString() {
        return "UdReceivePool(" + slots + " x " + slotLength + " bytes, port " + context.port() + ")";
    }
}
