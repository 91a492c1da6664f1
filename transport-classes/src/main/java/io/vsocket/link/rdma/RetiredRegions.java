package io.vsocket.link.rdma;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.VerbsException;

import java.lang.foreign.Arena;
import java.util.ArrayList;

/**
 * Regions whose deregistration the device refused for now, with the memory they cover. The kernel
 * may still hold a region for a moment after its queue pair is destroyed (rxe finishes a destroyed
 * queue pair's last packets in deferred work, and a region with references left fails to
 * deregister), most of all when thousands of queue pairs go at once. Freeing the memory under a
 * live registration, or forgetting the region, would leak it for the life of the process: here it
 * waits, and is tried again on the context's timer and at its close. Loop thread only.
 */
public final class RetiredRegions {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RetiredRegions.class);
    /** How long the context's close waits for refused regions before it gives up on them. */
    private static final long CLOSE_WAIT_NANOS = 5_000_000_000L;

    private final ArrayList<MemoryRegion> regions = new ArrayList<>();
    private final ArrayList<Arena> memory = new ArrayList<>();
    private boolean warned;

    /** Deregisters {@code region} and then frees {@code arena}, now if the device lets it, else later. */
    public void release(MemoryRegion region, Arena arena) {
        try {
            region.close();
        } catch (VerbsException | RuntimeException e) {
            if (!warned) {
                warned = true;
                logger.warn("the device refused to deregister a closed connection's memory region for now ({}): "
                        + "it is tried again until it goes", e.toString());
            }
            regions.add(region);
            memory.add(arena);
            return;
        }
        arena.close();
    }

    /** Tries each waiting region again; true when none is left. */
    public boolean retry() {
        for (int i = regions.size() - 1; i >= 0; i--) {
            try {
                regions.get(i).close();
            } catch (VerbsException | RuntimeException e) {
                continue;
            }
            regions.remove(i);
            memory.remove(i).close();
        }
        return regions.isEmpty();
    }

    /** How many regions wait (for leak checks). */
    public int waiting() {
        return regions.size();
    }

    /** At the context's close: tries again for a bounded time, then reports what is left (and keeps its memory). */
    void close() {
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (!retry() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (!regions.isEmpty()) {
            // Their memory stays allocated: the device may still map it.
            logger.warn("{} memory regions of closed rdma connections could not be deregistered", regions.size());
            regions.clear();
            memory.clear();
        }
    }
}
