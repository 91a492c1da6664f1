package io.vsocket.link.rdma;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.SharedArenaCloser;
import io.vsocket.verbs.VerbsResource;
import io.vsocket.verbs.VerbsException;

import java.lang.foreign.Arena;
import java.util.ArrayList;

/**
 * Verbs objects whose release the device refused for now (a region, mostly), with the memory under
 * them. The kernel
 * may still hold a region for a moment after its queue pair is destroyed (rxe finishes a destroyed
 * queue pair's last packets in deferred work, and a region with references left fails to
 * deregister), most of all when thousands of queue pairs go at once. Freeing the memory under a
 * live registration, or forgetting the region, would leak it for the life of the process: here it
 * waits, and is tried again on the context's timer and at its close. Loop thread only.
 */
public final class RetiredRegions {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RetiredRegions.class);
    /** How long the context's close waits for refused releases before it gives up on them. */
    private static final long CLOSE_WAIT_NANOS = 5_000_000_000L;

    /** Each waiting release: the objects still to close, in order, then the memory under them. */
    private final ArrayList<Pending> pending = new ArrayList<>();
    private boolean warned;

    /**
     * Closes {@code resources} in order and then hands {@code arena} over to be freed off the loop; where
     * the device refuses one, it and those after it (which depend on it: a window before its region) wait
     * with the memory and are tried again.
     */
    public void release(Arena arena, VerbsResource... resources) {
        Pending release = new Pending(arena, resources);
        if (!release.tryClose()) {
            if (!warned) {
                warned = true;
                logger.warn("the device refused to release a closed connection's {} for now ({}): it is tried "
                        + "again until it goes", release.stuck(), release.refusal);
            }
            pending.add(release);
        }
    }

    /** Tries each waiting release again; true when none is left. */
    public boolean retry() {
        for (int i = pending.size() - 1; i >= 0; i--) {
            if (pending.get(i).tryClose()) {
                pending.remove(i);
            }
        }
        return pending.isEmpty();
    }

    /** How many releases wait (for leak checks). */
    public int waiting() {
        return pending.size();
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
        if (!pending.isEmpty()) {
            // Their memory stays allocated: the device may still map it.
            logger.warn("{} releases of closed rdma connections' objects were refused until the end, the first {} ({})",
                    pending.size(), pending.get(0).stuck(), pending.get(0).refusal);
            pending.clear();
        }
    }

    private static final class Pending {
        private final Arena arena;
        private final VerbsResource[] resources;
        private int next;
        String refusal;

        Pending(Arena arena, VerbsResource[] resources) {
            this.arena = arena;
            this.resources = resources;
        }

        boolean tryClose() {
            for (; next < resources.length; next++) {
                VerbsResource resource = resources[next];
                if (resource == null) {
                    continue;
                }
                try {
                    resource.close();
                } catch (VerbsException | RuntimeException e) {
                    refusal = e.toString();
                    return false;
                }
            }
            // The memory last, and off the loop: the device has let go of it, and a shared arena's close is a
            // handshake with every thread (see SharedArenaCloser).
            SharedArenaCloser.close(arena);
            return true;
        }

        String stuck() {
            return resources[next].toString();
        }
    }
}
