package io.vsocket.link.shm;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.unix.MappedRegion;
import io.vsocket.unix.NativeIoException;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Unmaps the shared memory of closed shm links on a thread of its own.
 *
 * <p>Why not on the loop that closes the link: a {@link MappedRegion} is tied to a shared arena (so that
 * a segment touched after the unmap throws instead of crashing the JVM), and closing a shared arena
 * is a handshake with every thread of the JVM, which the closing thread waits for. Measured on the
 * 2-core build VM: 0.3–0.6 ms a close, during which the loop served none of its connections, and a
 * peer waiting for the close to end its channel waited with it (a server's idle close reached its
 * client 0.8 ms after the close where epoll's took 0.3; Reactor Netty's pool then sent a request on
 * the closed connection 6 times in 120 at the idle timeout's edge, epoll's once). The link is closed,
 * its peer told and its descriptors released first, on the loop; only the unmapping waits here, in
 * order. Nothing reads the region by then: the link is closed and every loan of it was returned
 * (see {@link ShmLink}), and a stray access throws, as before.
 */
public final class Unmapper {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(Unmapper.class);
    /** How long a region whose arena is still in use (a native call given its segment) is tried again. */
    private static final long BUSY_RETRY_MILLIS = 10_000;

    private static final LinkedBlockingQueue<MappedRegion> pending = new LinkedBlockingQueue<>();
    private static final AtomicLong handedOver = new AtomicLong();
    private static final AtomicLong done = new AtomicLong();
    private static Thread thread;

    private Unmapper() {
    }

    /** Takes {@code region}, which nobody uses any more, and unmaps it on the unmapping thread. */
    static void unmap(MappedRegion region) {
        handedOver.incrementAndGet();
        pending.add(region);
        start();
    }

    private static synchronized void start() {
        if (thread != null) {
            return;
        }
        Thread t = new Thread(Unmapper::unmapForever, "vsocket-unmapper");
        t.setDaemon(true);
        t.start();
        thread = t;
    }

    private static void unmapForever() {
        while (true) {
            MappedRegion region;
            try {
                region = pending.take();
            } catch (InterruptedException e) {
                continue; // nobody interrupts this thread on purpose: the regions must still go
            }
            try {
                closeWhenFree(region);
            } catch (RuntimeException | Error e) {
                // The thread must live on, or every later mapping would stay: this one is logged and left.
                logger.warn("could not unmap {}", region, e);
            } finally {
                done.incrementAndGet();
            }
        }
    }

    /**
     * Closes {@code region}; while another thread is inside a native call given its segment (the
     * arena refuses to close then), tries again for a while, and leaves the mapping in place after that
     * rather than pull it from under the call.
     */
    private static void closeWhenFree(MappedRegion region) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BUSY_RETRY_MILLIS);
        while (true) {
            try {
                region.close();
                return;
            } catch (IllegalStateException e) {
                if (System.nanoTime() - deadline >= 0) {
                    logger.warn("{} stays mapped: its memory is still in use after {} ms", region, BUSY_RETRY_MILLIS, e);
                    return;
                }
                try {
                    Thread.sleep(1);
                } catch (InterruptedException interrupted) {
                    // carry on: the region must still go
                }
            } catch (NativeIoException e) {
                logger.debug("could not unmap {}", region, e);
                return;
            }
        }
    }

    /**
     * Waits up to {@code timeoutMillis} until every region handed over so far is unmapped; false if one
     * still is not. For tests that count mappings.
     */
    public static boolean settle(long timeoutMillis) throws InterruptedException {
        long target = handedOver.get();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (done.get() < target) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            Thread.sleep(1);
        }
        return true;
    }
}
