package io.vsocket.link.rdma;

import io.netty.channel.EventLoop;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.VerbsException;
import org.agrona.collections.Int2ObjectHashMap;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;

/**
 * The staging rings of one loop's rdma links (see {@link RdmaLink}): registered memory a link copies
 * outgoing bytes into, taken on its first copied write and given back once it has written nothing
 * for an idle period and the device is done with every request it posted. So an idle connection
 * pins its receive ring only, not the staging ring as well (half as much at equal ring sizes), and a
 * connection that only reads never pins one. Given-back rings wait in a small pool for the next
 * link that writes (no registration on its path); the pool is emptied when no link of the loop
 * holds a ring any more.
 *
 * <p>The idle check is one timer per loop, not per link: every {@link #IDLE_RELEASE_MILLIS} ms it
 * asks each holder ({@link RdmaLink#releaseStagingIfIdle()}), and stops once nothing is held or
 * pooled. Loop thread only.
 */
final class StagingRings implements AutoCloseable {
    /** A link gives its staging ring back after this long without copied writes (0: never). */
    static final long IDLE_RELEASE_MILLIS = Long.getLong("io.vsocket.rdmaIdleReleaseMillis", 1000L);
    /** The most bytes of given-back rings kept registered for the next writers. */
    private static final long POOL_BYTES = 4L << 20;

    private final ProtectionDomain pd;
    private final RetiredRegions retired;
    /** Given-back rings by size. */
    private final Int2ObjectHashMap<ArrayDeque<Ring>> pool = new Int2ObjectHashMap<>();
    private long pooledBytes;
    /** The links holding a ring; each knows its index here ({@link RdmaLink#stagingIndex}). */
    private final ArrayList<RdmaLink> holders = new ArrayList<>();
    private EventLoop loop;
    private Future<?> sweep;
    private boolean closed;

    StagingRings(ProtectionDomain pd, RetiredRegions retired) {
        this.pd = pd;
        this.retired = retired;
    }

    /** The loop the idle sweep runs on (the links' own); until it is known no ring is given back for idleness. */
    void sweepOn(EventLoop loop) {
        if (this.loop == null) {
            this.loop = loop;
            scheduleSweep();
        }
    }

    /** A ring of {@code size} bytes for {@code holder}: a pooled one, or newly registered. */
    Ring take(RdmaLink holder, int size) throws VerbsException {
        if (closed) {
            throw new IllegalStateException("the rdma context of this event loop is closed");
        }
        ArrayDeque<Ring> free = pool.get(size);
        Ring ring = free != null ? free.pollLast() : null;
        if (ring != null) {
            pooledBytes -= size;
        } else {
            ring = Ring.register(pd, size);
        }
        holder.stagingIndex = holders.size();
        holders.add(holder);
        scheduleSweep();
        return ring;
    }

    /** {@code holder} lets go of {@code ring} (the device reads none of it any more). */
    void give(RdmaLink holder, Ring ring) {
        int i = holder.stagingIndex;
        if (i >= 0) {
            RdmaLink last = holders.remove(holders.size() - 1);
            if (last != holder) {
                holders.set(i, last);
                last.stagingIndex = i;
            }
            holder.stagingIndex = -1;
        }
        if (closed || pooledBytes + ring.size() > POOL_BYTES) {
            ring.close(retired);
            return;
        }
        pool.computeIfAbsent(ring.size(), s -> new ArrayDeque<>()).addLast(ring);
        pooledBytes += ring.size();
    }

    private void scheduleSweep() {
        if (sweep != null || loop == null || closed || IDLE_RELEASE_MILLIS <= 0) {
            return;
        }
        try {
            sweep = loop.schedule(this::sweep, IDLE_RELEASE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // The loop is shutting down: its links and this pool go with it.
        }
    }

    private void sweep() {
        sweep = null;
        if (closed) {
            return;
        }
        boolean pooledBefore = pooledBytes > 0;
        // Backwards: a holder that gives its ring back is swapped with the last, already asked.
        for (int i = holders.size() - 1; i >= 0; i--) {
            if (i < holders.size()) {
                holders.get(i).releaseStagingIfIdle();
            }
        }
        if (holders.isEmpty() && pooledBefore) {
            // No link wrote for a whole period and none holds a ring: the loop keeps nothing pinned.
            emptyPool();
        }
        if (!holders.isEmpty() || pooledBytes > 0) {
            scheduleSweep();
        }
    }

    private void emptyPool() {
        for (ArrayDeque<Ring> rings : pool.values()) {
            for (Ring ring : rings) {
                ring.close(retired);
            }
        }
        pool.clear();
        pooledBytes = 0;
    }

    /** After every link of the context is gone (their rings given back): frees the pool. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (sweep != null) {
            sweep.cancel(false);
            sweep = null;
        }
        emptyPool();
        holders.clear();
    }

    /** One staging ring: page-aligned memory registered for local access (the device reads it). */
    static final class Ring {
        /** Rings registered in this process and not yet closed (held or pooled, every loop's). */
        static final AtomicInteger OPEN = new AtomicInteger();
        private final Arena arena;
        final MemorySegment memory;
        final MemoryRegion region;
        final ByteBuffer view;

        private Ring(Arena arena, MemorySegment memory, MemoryRegion region) {
            this.arena = arena;
            this.memory = memory;
            this.region = region;
            this.view = memory.asByteBuffer();
        }

        static Ring register(ProtectionDomain pd, int size) throws VerbsException {
            Arena arena = Arena.ofShared();
            try {
                MemorySegment memory = arena.allocate(size, 4096);
                Ring ring = new Ring(arena, memory, pd.register(memory, IBV_ACCESS_LOCAL_WRITE));
                OPEN.incrementAndGet();
                return ring;
            } catch (VerbsException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }

        int size() {
            return (int) memory.byteSize();
        }

        long address() {
            return region.address();
        }

        int lkey() {
            return region.lkey();
        }

        void close(RetiredRegions retired) {
            retired.release(arena, region);
            OPEN.decrementAndGet();
        }
    }
}
