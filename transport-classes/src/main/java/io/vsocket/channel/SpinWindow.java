package io.vsocket.channel;

/**
 * How long an idle event loop polls its queues before it blocks, learned from what the spins catch.
 * Owned by one loop thread (others may read the window); no allocation.
 *
 * <p>Spinning pays only when work comes back within a few microseconds: a loop-to-loop ping-pong
 * over shm answers in about one, and a wake-up from {@code epoll_wait} costs the sleeper and the
 * waker several microseconds each. An application whose requests cross threads outside the loops
 * (gRPC's executor, a thread blocked on a future) answers in tens of microseconds, and on a small
 * machine a spinning loop takes the core that thread needs: the spin then delays the very work it
 * waits for, and burns CPU. So the window follows the work, in the manner of KVM's adaptive halt
 * polling:
 * <ul>
 *   <li>a spin that catches I/O soon (within the grow limit) keeps the window;
 *   <li>I/O that came while the loop slept, within the grow limit of its going idle, would have
 *       been caught by a longer spin: the window grows (doubling, from {@link #GROW_START_NANOS}),
 *       up to the cap;
 *   <li>a spin that catches work only late halves it (below the start it is zero: the loop blocks
 *       at once); work that came while the loop slept, later than the grow limit, and any task
 *       submitted by a thread outside the loop, set it to zero. A task from another thread is the
 *       mark of an application whose requests cross threads: spinning for it holds a core that
 *       thread needs, and its wake-up is not what the loop's spin saves. Shrinking fast and growing
 *       by doubling keeps the cost of trying low: on a busy machine a spinning loop delays the
 *       threads it wakes (they may queue behind it), so a spin that does not pay must end soon;
 *   <li>a wake-up for a timer says nothing about the work and changes nothing.
 * </ul>
 * A loaded machine makes every gap long, so the loops stop spinning there too: a spin is worth its
 * CPU only where cores are free.
 *
 * A fixed window ({@link #fixed}) never adapts: busy polling, or blocking at once, as an explicit
 * choice.
 */
final class SpinWindow {
    /** Where a window grows from zero: about the cost of one wake-up. */
    static final long GROW_START_NANOS = 2_000;

    private final long capNanos;
    private final long growLimitNanos;
    private final boolean adaptive;
    /** Written by the loop thread only; volatile so that metrics and tests may read it from others. */
    private volatile long windowNanos;

    private SpinWindow(long capNanos, long growLimitNanos, boolean adaptive) {
        this.capNanos = capNanos;
        this.growLimitNanos = growLimitNanos;
        this.adaptive = adaptive;
        this.windowNanos = capNanos;
    }

    /** Always {@code nanos}: zero blocks at once, a long one busy-polls. */
    static SpinWindow fixed(long nanos) {
        return new SpinWindow(nanos, 0, false);
    }

    /**
     * Adapts between zero and {@code capNanos}, growing only for work that comes within
     * {@code growLimitNanos} of going idle; starts at the cap (the first spins tell).
     */
    static SpinWindow adaptive(long capNanos, long growLimitNanos) {
        return new SpinWindow(capNanos, Math.min(growLimitNanos, capNanos), true);
    }

    /** How long the next idle period spins before it blocks. */
    long nanos() {
        return windowNanos;
    }

    boolean isAdaptive() {
        return adaptive;
    }

    /**
     * The spin caught work {@code gapNanos} after the loop went idle; {@code fromAnotherThread}: a
     * task another thread submitted was among it.
     */
    void caught(long gapNanos, boolean fromAnotherThread) {
        if (!adaptive) {
            return;
        }
        if (fromAnotherThread) {
            // Caught what a thread outside the loop produced: a thread this spin may have kept off
            // its core. Block at once from now on, until I/O shows short gaps again.
            windowNanos = 0;
        } else if (gapNanos > growLimitNanos) {
            // Caught, but late: the spin ran longer than a wake-up would have cost.
            shrink();
        }
    }

    /**
     * The loop blocked and was woken by work {@code gapNanos} after it went idle: I/O, or a task
     * another thread submitted ({@code fromAnotherThread}).
     */
    void wokenByWork(long gapNanos, boolean fromAnotherThread) {
        if (!adaptive) {
            return;
        }
        if (!fromAnotherThread && gapNanos <= growLimitNanos) {
            windowNanos = windowNanos == 0 ? GROW_START_NANOS : Math.min(capNanos, windowNanos * 2);
        } else {
            // Work later than the grow limit (a spin that long costs more CPU than the wake-up), or
            // a task from another thread: spinning does not pay, and on a busy machine it delays
            // whoever it wakes.
            windowNanos = 0;
        }
    }

    private void shrink() {
        windowNanos /= 2;
        if (windowNanos < GROW_START_NANOS) {
            windowNanos = 0;
        }
    }

    @Override
    public String toString() {
        return adaptive ? "adaptive spin " + windowNanos + " ns (cap " + capNanos + ", grows for work within "
                + growLimitNanos + ")" : "fixed spin " + windowNanos + " ns";
    }
}
