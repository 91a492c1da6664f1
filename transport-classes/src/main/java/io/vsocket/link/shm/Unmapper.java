package io.vsocket.link.shm;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.unix.MappedRegion;
import io.vsocket.unix.NativeIoException;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

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
 *
 * <p>Why the unmapping waits, and why a close does not wake this thread: the handshake stops every
 * thread at its next safepoint poll for a moment, and the {@code munmap} interrupts every vCPU that runs
 * the process to flush its TLB, the loops included; and waking this thread from the close is a system
 * call on the loop, and a thread made runnable on the very vCPUs where the peer — on this host, often
 * in this JVM — is ending its side of the same connection. Server close to client
 * {@code channelInactive}, p50 of 6,000 warm closes on the 2-core build VM: 97–137 µs without any
 * unmapping, 187–244 with the unmapping woken at once, and about the same (172–192, the p90 lower)
 * with it woken at once and waiting {@link #DELAY_NANOS}; epoll 70. So a close only queues its region,
 * and this thread looks for them itself: every {@link #DELAY_NANOS} while closes come, backing off to
 * {@link #IDLE_LOOK_NANOS} when none do; a region is unmapped {@link #DELAY_NANOS} after its close at
 * the earliest, by then over on both sides. The work is the same, later; a mapping of a closed link
 * stays up to about a second on a host where links close seldom.
 */
public final class Unmapper {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(Unmapper.class);
    /** How long a region whose arena is still in use (a native call given its segment) is tried again. */
    private static final long BUSY_RETRY_MILLIS = 10_000;
    /** How long after its link's close a region is unmapped at the earliest (see the class comment). */
    static final long DELAY_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    /** The longest the thread sleeps between looks, after a while without closes. */
    static final long IDLE_LOOK_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** A region handed over, and when. */
    private record Handed(MappedRegion region, long atNanos) {
    }

    /** Added to by any thread, taken from by the unmapping thread only; never signals (see the class comment). */
    private static final ConcurrentLinkedQueue<Handed> pending = new ConcurrentLinkedQueue<>();
    private static final AtomicLong handedOver = new AtomicLong();
    private static final AtomicLong done = new AtomicLong();
    private static volatile Thread thread;

    private Unmapper() {
    }

    /** Takes {@code region}, which nobody uses any more, to be unmapped on the unmapping thread. */
    static void unmap(MappedRegion region) {
        handedOver.incrementAndGet();
        pending.add(new Handed(region, System.nanoTime()));
        if (thread == null) {
            start();
        }
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
        long look = DELAY_NANOS;
        while (true) {
            Handed handed = pending.peek();
            long wait = handed == null ? look : handed.atNanos() + DELAY_NANOS - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
                Thread.interrupted(); // (nobody interrupts this thread on purpose; a park would not wait while it stays set)
                if (handed == null) {
                    look = Math.min(look * 2, IDLE_LOOK_NANOS);
                }
                continue;
            }
            pending.poll();
            look = DELAY_NANOS;
            MappedRegion region = handed.region();
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
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t); // (it may be sleeping its longest: nothing was closed for a while)
        }
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
