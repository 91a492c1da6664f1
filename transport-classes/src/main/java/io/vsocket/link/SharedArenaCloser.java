package io.vsocket.link;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;

import java.lang.foreign.Arena;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Closes, on a thread of its own and a little after a link let it go, memory tied to a shared arena:
 * a closed shm link's mapping ({@code MappedRegion}), a closed rdma link's rings once the device has let
 * go of them ({@code RetiredRegions}).
 *
 * <p>Why not on the loop that closes the link: such memory is tied to a shared arena so that a segment
 * touched after its release throws instead of crashing the JVM, and closing a shared arena is a
 * handshake with every thread of the JVM, which the closing thread waits for. Measured on the 2-core
 * build VM: 0.3–0.6 ms a close, during which the loop served none of its connections, and a peer waiting
 * for the close to end its channel waited with it (a server's idle close reached its client 0.8 ms after
 * the close where epoll's took 0.3; Reactor Netty's pool then sent a request on the closed connection 6
 * times in 120 at the idle timeout's edge, epoll's once). The link is closed, its peer told and its
 * descriptors and device objects released first, on the loop; only the memory waits here, in order.
 * Nothing reads it by then: the link is closed and every loan of it was returned, and a stray access
 * throws, as before.
 *
 * <p>Why the close waits, and why handing memory over does not wake this thread: the handshake stops
 * every thread at its next safepoint poll for a moment, and an {@code munmap} interrupts every vCPU that
 * runs the process to flush its TLB, the loops included; and waking this thread from the link's close is
 * a system call on the loop, and a thread made runnable on the very vCPUs where the peer — on this host,
 * often in this JVM — is ending its side of the same connection. Shm server close to client
 * {@code channelInactive}, p50 of 6,000 warm closes: 97–137 µs without any unmapping, 187–244 with the
 * unmapping woken at once, about the same (172–192, the p90 lower) with it woken at once and waiting
 * {@link #DELAY_NANOS}; epoll 70. So a close only queues its memory, and this thread looks for it: every
 * {@link #DELAY_NANOS} while closes come, backing off to {@link #IDLE_LOOK_NANOS} when none do; memory is
 * closed {@link #DELAY_NANOS} after it was handed over at the earliest, when the close is over on both
 * sides. The work is the same, later; a closed link's memory stays up to about a second on a host where
 * links close seldom.
 */
public final class SharedArenaCloser {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(SharedArenaCloser.class);
    /** How long memory whose arena is still in use (a native call given its segment) is tried again. */
    private static final long BUSY_RETRY_MILLIS = 10_000;
    /** How long after it is handed over memory is closed at the earliest (see the class comment). */
    static final long DELAY_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    /** The longest the thread sleeps between looks, after a while without closes. */
    static final long IDLE_LOOK_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Memory handed over, and when. */
    private record Handed(AutoCloseable memory, long atNanos) {
    }

    /** Added to by any thread, taken from by the closing thread only; never signals (see the class comment). */
    private static final ConcurrentLinkedQueue<Handed> pending = new ConcurrentLinkedQueue<>();
    private static final AtomicLong handedOver = new AtomicLong();
    private static final AtomicLong done = new AtomicLong();
    private static volatile Thread thread;

    private SharedArenaCloser() {
    }

    /**
     * Takes {@code memory} — a shared arena, or what owns one (a mapping) — which nobody uses any more, to
     * be closed on the closing thread. Any thread.
     */
    public static void close(AutoCloseable memory) {
        handedOver.incrementAndGet();
        pending.add(new Handed(memory, System.nanoTime()));
        if (thread == null) {
            start();
        }
    }

    private static synchronized void start() {
        if (thread != null) {
            return;
        }
        Thread t = new Thread(SharedArenaCloser::closeForever, "vsocket-arena-closer");
        t.setDaemon(true);
        t.start();
        thread = t;
    }

    private static void closeForever() {
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
            AutoCloseable memory = handed.memory();
            try {
                closeWhenFree(memory);
            } catch (RuntimeException | Error e) {
                // The thread must live on, or every later close would wait for good: this one is logged and left.
                logger.warn("could not close {}", memory, e);
            } finally {
                done.incrementAndGet();
            }
        }
    }

    /**
     * Closes {@code memory}; while another thread holds its arena (the arena refuses to close then: a native
     * call linked with an address argument does, not vsocket's own, which pass addresses), tries again for a
     * while, and leaves it in place after that rather than pull it from under the holder.
     */
    private static void closeWhenFree(AutoCloseable memory) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BUSY_RETRY_MILLIS);
        while (true) {
            try {
                memory.close();
                return;
            } catch (IllegalStateException e) {
                if (memory instanceof Arena arena && !arena.scope().isAlive()) {
                    return; // closed already (an arena throws the same exception then): nothing to wait for
                }
                if (System.nanoTime() - deadline >= 0) {
                    logger.warn("{} stays: it is still in use after {} ms", memory, BUSY_RETRY_MILLIS, e);
                    return;
                }
                try {
                    Thread.sleep(1);
                } catch (InterruptedException interrupted) {
                    // carry on: the memory must still go
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                logger.debug("could not close {}", memory, e);
                return;
            }
        }
    }

    /**
     * Waits up to {@code timeoutMillis} until everything handed over so far is closed; false if something
     * still is not. For tests that count mappings or memory.
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
