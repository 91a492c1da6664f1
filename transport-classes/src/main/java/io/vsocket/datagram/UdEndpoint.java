package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.ffm.ibverbs.ibv_sge;
import io.vsocket.link.Resources;
import io.vsocket.link.SharedArenaCloser;
import io.vsocket.link.rdma.QpCompletions;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.verbs.AddressHandle;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionException;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.VerbsException;
import org.agrona.collections.IntArrayQueue;
import org.agrona.collections.Object2ObjectHashMap;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.security.SecureRandom;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_INLINE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_SIGNALED;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_SEND;

/**
 * One datagram channel's UD queue pair on its event loop's {@link RdmaContext}: it completes on the
 * loop's completion queue and receives from the loop's shared {@link UdReceivePool}. Its Q_Key is
 * random, so a datagram reaches it only from a sender that learned the key (from the resolution,
 * {@link PeerResolver}); the token in every datagram's header then says which UDP peer sent it.
 *
 * <p><b>Sending.</b> {@link #send} copies the payload behind the {@link UdHeader} into one of
 * {@link #SEND_SLOTS} registered send slots and queues a request; {@link #flush()} posts every
 * queued request as one chain (one {@code ibv_post_send} per flush). Small datagrams go inline;
 * every {@link #SIGNAL_EVERY}th request is signalled, and its completion frees its slot and every
 * one before it (a queue pair completes in order). {@code send} returns false when the datagram
 * cannot go now — larger than the route's {@link UdRoute#maxPayload()}, no free slot, endpoint
 * closed or failed — and the caller sends it over UDP instead ({@link #sendFallbacks()} counts them).
 *
 * <p><b>Receiving.</b> A receive completion only notes its slot during the poll; after the poll the
 * loop's dispatch runs {@link #afterCompletions()}, which hands each datagram to the
 * {@link Listener} (a malformed one is dropped and counted) and then returns the slots to the pool,
 * reposted in one chain. A datagram is thus never handed over from inside another channel's call.
 *
 * <p><b>Closing.</b> {@link #close()} is the one way out, and leaves nothing: the queue pair goes to
 * ERR, a last signalled request (to the loop's own address, flushed, never sent) proves every
 * completion of the queue pair has been polled, and then the queue pair, its address handles, its
 * send memory, its completion queue entries and its share of the pool are released. The context
 * closes it the same way if it goes first. Event-loop thread only.
 */
public final class UdEndpoint extends QpCompletions implements PeerResolver.Local, AutoCloseable {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(UdEndpoint.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Send slots (a power of two, a multiple of SIGNAL_EVERY: a full ring always has signalled requests out). */
    static final int SEND_SLOTS = 64;
    static final int SIGNAL_EVERY = 16;
    private static final int INLINE = 64;
    /** Completion queue entries this endpoint may need at once: every send (failed ones all complete) and the last request. */
    private static final int COMPLETIONS = SEND_SLOTS + 1;
    /** Address handles cached at most (one per peer GID, a host, not a port). */
    private static final int MAX_HANDLES = 1024;
    private static final long WAIT_NANOS = 1_000_000_000L;

    /** Told of each datagram received; it may not keep the datagram's memory after it returns. */
    public interface Listener {
        void received(UdDatagram datagram);

        /** After the datagrams of one poll were handed over (a channel's read-complete). */
        default void afterDatagrams() {
        }
    }

    private final RdmaContext context;
    private final UdReceivePool pool;
    private final Arena arena = Arena.ofShared();
    private final QueuePair qp;
    private final int qkey;
    private final int maxPayload;
    private final int maxInline;
    private final int sendStride;
    private final MemorySegment sendSlab;
    private final ByteBuffer sendView;
    private final MemoryRegion sendRegion;
    /** One prepared request per send slot, its scatter entry fixed to the slot. */
    private final MemorySegment[] requests = new MemorySegment[SEND_SLOTS];
    private final MemorySegment[] sges = new MemorySegment[SEND_SLOTS];
    /** The last request, posted on close. */
    private final MemorySegment lastRequest;
    private final Object2ObjectHashMap<Gid, AddressHandle> handles = new Object2ObjectHashMap<>();
    /** Receive slots whose datagram the listener has not seen yet, in arrival order. */
    private final IntArrayQueue pending;
    private final UdDatagram datagram = new UdDatagram();
    private Listener listener;
    /** Sends numbered from 1 (the wr_id): queued so far, posted so far, known to have left the queue. */
    private long queued;
    private long posted;
    private long completed;
    /** The slot whose datagram the listener is being handed, or -1. */
    private int delivering = -1;
    private IOException failure;
    private boolean closed;
    private long sent;
    private long received;
    private long droppedMalformed;
    private long sendFallbacks;

    private UdEndpoint(RdmaContext context, UdReceivePool pool) throws IOException {
        this.context = context;
        this.pool = pool;
        this.pending = new IntArrayQueue(pool.slots(), -1);
        this.qkey = RANDOM.nextInt() & 0x7fff_ffff; // bit 31 set would be a controlled Q_Key, which only privileged senders use
        this.sendStride = context.mtu().bytes();
        this.maxPayload = sendStride - UdHeader.LENGTH;
        context.reserveCompletions(COMPLETIONS);
        QueuePair q = null;
        MemoryRegion mr = null;
        try {
            q = context.protectionDomain().createQueuePair(new QueuePairConfig(QpType.UD, context.completionQueue(),
                    context.completionQueue(), pool.sharedReceiveQueue(), SEND_SLOTS + 1, 0, 1, 1, INLINE, false));
            q.activateDatagram(context.port(), qkey, RANDOM.nextInt(1 << 24));
            sendSlab = arena.allocate((long) SEND_SLOTS * sendStride, 4096);
            mr = context.protectionDomain().register(sendSlab, 0); // the device only reads it
            MemorySegment wrs = arena.allocate(ibv_send_wr.LAYOUT, SEND_SLOTS + 1);
            MemorySegment entries = arena.allocate(ibv_sge.LAYOUT, SEND_SLOTS);
            for (int slot = 0; slot < SEND_SLOTS; slot++) {
                MemorySegment sge = entries.asSlice(slot * ibv_sge.sizeof(), ibv_sge.LAYOUT);
                ibv_sge.addr(sge, sendSlab.address() + (long) slot * sendStride);
                ibv_sge.lkey(sge, mr.lkey());
                MemorySegment wr = wrs.asSlice(slot * ibv_send_wr.sizeof(), ibv_send_wr.LAYOUT);
                ibv_send_wr.opcode(wr, IBV_WR_SEND);
                ibv_send_wr.sg_list(wr, sge);
                ibv_send_wr.num_sge(wr, 1);
                sges[slot] = sge;
                requests[slot] = wr;
            }
            lastRequest = wrs.asSlice(SEND_SLOTS * ibv_send_wr.sizeof(), ibv_send_wr.LAYOUT);
            context.register(q.qpNumber(), this); // last: nothing can fail once completions may come here
        } catch (IOException | RuntimeException e) {
            Resources.closeQuietly(q, mr);
            arena.close();
            context.releaseCompletions(COMPLETIONS);
            throw e;
        }
        this.qp = q;
        this.sendRegion = mr;
        this.maxInline = q.maxInlineData();
        this.sendView = sendSlab.asByteBuffer();
    }

    /** A new endpoint on {@code context} (the first of the loop's makes the loop's receive pool). */
    public static UdEndpoint open(RdmaContext context) throws IOException {
        UdReceivePool pool = UdReceivePool.acquire(context);
        try {
            return new UdEndpoint(context, pool);
        } catch (IOException | RuntimeException e) {
            pool.release();
            throw e;
        }
    }

    public void listener(Listener listener) {
        this.listener = listener;
    }

    /** The GID peers send to: the context's RoCE address. */
    @Override
    public Gid gid() {
        return context.gid().gid();
    }

    @Override
    public int qpNumber() {
        return qp.qpNumber();
    }

    @Override
    public int qkey() {
        return qkey;
    }

    /** The largest payload a datagram carries (and this side receives): the path MTU less the header. */
    @Override
    public int maxPayload() {
        return maxPayload;
    }

    /** Receive slots of the loop's pool, shared by its endpoints: a burst larger than this is partly lost. */
    public int receiveSlots() {
        return pool.slots();
    }

    /**
     * The route to queue pair {@code qpNumber} at {@code gid} with Q_Key {@code qkey}, whose side
     * receives payloads of up to {@code peerMaxPayload} bytes. Its address handle is made on first
     * use of the GID and kept until this endpoint closes.
     */
    @Override
    public UdRoute route(Gid gid, int qpNumber, int qkey, int peerMaxPayload) throws IOException {
        requireOpen();
        AddressHandle handle = handles.get(gid);
        if (handle == null) {
            if (handles.size() >= MAX_HANDLES) {
                throw new IOException(this + " already routes to " + MAX_HANDLES + " hosts");
            }
            handle = context.protectionDomain().createAddressHandle(
                    AddressVector.roce(gid, context.gid().index(), context.port()));
            handles.put(gid, handle);
        }
        return new UdRoute(this, handle, gid, qpNumber, qkey, Math.min(maxPayload, peerMaxPayload));
    }

    /**
     * Queues the readable bytes of {@code payload} (its indexes do not move) to {@code route} behind
     * {@code token}, the token the receiver handed this side; they go at the next {@link #flush()}.
     * False: not sent, send it over UDP.
     */
    public boolean send(UdRoute route, long token, ByteBuf payload) {
        int length = payload.readableBytes();
        int slot = claim(route, length);
        if (slot < 0) {
            return false;
        }
        long at = (long) slot * sendStride;
        UdHeader.write(sendSlab, at, token);
        int from = (int) at + UdHeader.LENGTH;
        sendView.limit(from + length).position(from);
        payload.getBytes(payload.readerIndex(), sendView);
        queue(slot, route, length);
        return true;
    }

    /** As {@link #send(UdRoute, long, ByteBuf)}, for bytes in native or heap memory. */
    public boolean send(UdRoute route, long token, MemorySegment payload) {
        if (payload.byteSize() > Integer.MAX_VALUE) {
            sendFallbacks++;
            return false;
        }
        int length = (int) payload.byteSize();
        int slot = claim(route, length);
        if (slot < 0) {
            return false;
        }
        long at = (long) slot * sendStride;
        UdHeader.write(sendSlab, at, token);
        MemorySegment.copy(payload, 0, sendSlab, at + UdHeader.LENGTH, length);
        queue(slot, route, length);
        return true;
    }

    /** The slot the next request takes, or -1 (counted) when it cannot go now. */
    private int claim(UdRoute route, int length) {
        if (route.endpoint() != this) {
            throw new IllegalArgumentException(route + " belongs to another endpoint");
        }
        if (queued - completed >= SEND_SLOTS && !closed && failure == null) {
            reap();
        }
        if (closed || failure != null || length > route.maxPayload() || queued - completed >= SEND_SLOTS) {
            sendFallbacks++;
            return -1;
        }
        return slot(queued + 1);
    }

    /**
     * Every send slot is taken: posts what waits and polls the loop's completion queue once, so that
     * slots the device is done with come back now, not at the loop's next turn (a writer that keeps
     * the loop busy, a flush of hundreds of datagrams, would otherwise send all but the first
     * {@link #SEND_SLOTS} over UDP). Completions of other queue pairs found meanwhile are dispatched
     * at the loop's next turn, as when a stream link polls before it writes.
     */
    private void reap() {
        flush();
        try {
            context.poll();
        } catch (VerbsException e) {
            logger.debug("{}: polling for send completions failed: {}", this, e.getMessage());
        }
    }

    private static int slot(long request) {
        return (int) (request & (SEND_SLOTS - 1));
    }

    private void queue(int slot, UdRoute route, int length) {
        long request = ++queued;
        int bytes = UdHeader.LENGTH + length;
        MemorySegment wr = requests[slot];
        ibv_sge.length(sges[slot], bytes);
        ibv_send_wr.wr_id(wr, request); // from 1, and bit 62 clear: never taken for a receive
        ibv_send_wr.next(wr, MemorySegment.NULL);
        ibv_send_wr.send_flags(wr, (bytes <= maxInline ? IBV_SEND_INLINE : 0)
                | (request % SIGNAL_EVERY == 0 ? IBV_SEND_SIGNALED : 0));
        ibv_send_wr.wr_ud_ah(wr, route.handle().handle());
        ibv_send_wr.wr_ud_remote_qpn(wr, route.qpNumber());
        ibv_send_wr.wr_ud_remote_qkey(wr, route.qkey());
        if (request - 1 > posted) {
            ibv_send_wr.next(requests[slot(request - 1)], wr);
        }
    }

    /** Posts what {@link #send} queued since the last flush, in one call. */
    public void flush() {
        if (queued == posted || closed || failure != null) {
            return;
        }
        try {
            qp.postSend(requests[slot(posted + 1)]);
            sent += queued - posted;
            posted = queued;
        } catch (VerbsException e) {
            failure = e;
            logger.warn("{} cannot post datagrams; its datagrams go over UDP from now on", this, e);
        }
    }

    /** Why this endpoint stopped sending (a failed post or send completion: a bug, not a network event), or null. */
    public IOException failure() {
        return failure;
    }

    public boolean isOpen() {
        return !closed;
    }

    @Override
    protected void completed(CompletionBatch batch, int i) {
        long wrId = batch.wrId(i);
        if (UdReceivePool.isReceive(wrId)) {
            int slot = UdReceivePool.slotOf(wrId);
            if (closed) {
                pool.giveBack(slot); // close reposts it
            } else if (!batch.isSuccess(i)) {
                // A datagram this side could not take (longer than a slot): lost, as UDP loses it.
                droppedMalformed++;
                pool.giveBack(slot);
            } else {
                pool.received(slot, batch.byteLength(i), batch.sourceQpNumber(i));
                pending.addInt(slot);
            }
            return;
        }
        // A send (or the last request), completed or flushed: it and every request before it are done.
        completed = Math.max(completed, wrId);
        if (!batch.isSuccess(i) && !closed && failure == null) {
            // A UD send fails only on a local fault (no peer acknowledges), and leaves the send queue in
            // error: this endpoint stops sending.
            try {
                batch.checkSuccess(i, "UD SEND");
            } catch (CompletionException e) {
                failure = e;
                logger.warn("{}: a datagram send failed; its datagrams go over UDP from now on", this, e);
            }
        }
    }

    @Override
    protected void afterCompletions() {
        if (closed) {
            return;
        }
        Listener told = pending.isEmpty() ? null : listener;
        while (!pending.isEmpty()) {
            int slot = pending.pollInt();
            delivering = slot;
            try {
                deliver(slot);
            } catch (RuntimeException e) {
                logger.warn("{}: the datagram listener failed", this, e);
            } finally {
                // Closed by the listener: close gave back every slot this endpoint held, this one too.
                if (!closed) {
                    delivering = -1;
                    pool.giveBack(slot);
                }
            }
            if (closed) {
                afterDatagrams(told);
                return; // the listener closed this endpoint, which gave every slot it held back
            }
        }
        pool.repost();
        afterDatagrams(told);
    }

    private void afterDatagrams(Listener told) {
        if (told != null) {
            try {
                told.afterDatagrams();
            } catch (RuntimeException e) {
                logger.warn("{}: the datagram listener failed", this, e);
            }
        }
    }

    private void deliver(int slot) {
        MemorySegment memory = pool.memory();
        long grh = pool.offset(slot);
        long header = grh + UdReceivePool.GRH;
        int length = pool.length(slot) - UdReceivePool.GRH;
        if (!UdHeader.valid(memory, header, length)) {
            droppedMalformed++;
            return;
        }
        Listener l = listener;
        if (l == null) {
            return;
        }
        datagram.wrap(memory, pool.view(), grh, length - UdHeader.LENGTH, UdHeader.token(memory, header),
                pool.sourceQpn(slot));
        received++;
        l.received(datagram);
    }

    @Override
    protected void contextClosing() {
        close();
    }

    /** Releases everything this endpoint holds; idempotent. See the class comment. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        listener = null;
        try {
            qp.toError();
            long last = queued + 1;
            MemorySegment wr = lastRequest;
            ibv_send_wr.wr_id(wr, last);
            ibv_send_wr.next(wr, MemorySegment.NULL);
            ibv_send_wr.opcode(wr, IBV_WR_SEND);
            ibv_send_wr.num_sge(wr, 0);
            ibv_send_wr.send_flags(wr, IBV_SEND_SIGNALED);
            ibv_send_wr.wr_ud_ah(wr, pool.self().handle());
            ibv_send_wr.wr_ud_remote_qpn(wr, qp.qpNumber());
            ibv_send_wr.wr_ud_remote_qkey(wr, qkey);
            qp.postSend(wr);
            long deadline = System.nanoTime() + WAIT_NANOS;
            while (completed < last && System.nanoTime() < deadline) {
                context.poll();
            }
        } catch (VerbsException | RuntimeException e) {
            logger.debug("{}: closing without draining its queue pair", this, e);
        }
        context.unregister(qp.qpNumber());
        Resources.closeQuietly(qp);
        // The slots this endpoint held: those waiting for the listener, and the one it was handed.
        if (delivering >= 0) {
            pool.giveBack(delivering);
            delivering = -1;
        }
        while (!pending.isEmpty()) {
            pool.giveBack(pending.pollInt());
        }
        pool.repost();
        Resources.closeQuietly(handles.values().toArray(new AddressHandle[0]));
        handles.clear();
        Resources.closeQuietly(sendRegion);
        if (!qp.isOpen() && !sendRegion.isOpen()) {
            SharedArenaCloser.close(arena); // (off the loop: a shared arena's close waits for every thread)
        } else {
            // The device may still read the send slots: leaking them is safe, freeing them is not.
            logger.warn("{}: its queue pair or send memory could not be released; keeping the memory", this);
        }
        context.releaseCompletions(COMPLETIONS);
        pool.release();
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    /** Datagrams posted. */
    public long sent() {
        return sent;
    }

    /** Datagrams handed to the listener. */
    public long received() {
        return received;
    }

    /** Datagrams dropped on arrival: too short for the header, of another version, or too long for a slot. */
    public long droppedMalformed() {
        return droppedMalformed;
    }

    /** Sends refused (the caller used UDP): too large for the route, no free send slot, closed or failed. */
    public long sendFallbacks() {
        return sendFallbacks;
    }

    @Override
    public String toString() {
        return "UdEndpoint(QPN 0x" + Integer.toHexString(qp.qpNumber()) + ", port " + context.port() + ")";
    }
}
