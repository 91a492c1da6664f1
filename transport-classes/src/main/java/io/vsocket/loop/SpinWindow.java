package io.vsocket.loop;

/**
 * How long an idle event loop polls its queues before it blocks, learned from what the spins catch.
 * Owned by one loop thread (others may read the window); no allocation.
 *
 * <p>Two kinds of traffic want opposite things. Between loops (a ping-pong over shm, gRPC with
 * {@code directExecutor()}, an HTTP server answering from its handler, a proxy) the answer comes
 * back within microseconds when both loops spin, while a wake-up from {@code epoll_wait} costs each
 * side several microseconds, and on a virtual machine whose idle vCPUs halt, tens. But where an
 * application's requests cross threads outside the loops (gRPC's executor, a thread blocked on a
 * future, an HTTP client called from a plain thread), the answer comes only after that thread has
 * run; on a small machine a spinning loop holds the core that thread needs, delaying the very work
 * it waits for, and any spin buys its latency with CPU that blocking would not spend. The mark of
 * the second kind is a task submitted by another thread, which the loop sees (that thread calls its
 * {@code wakeup()}). So:
 * <ul>
 *   <li>a task from another thread sets the window to zero (block at once, as epoll does), and for
 *       {@link #TRIAL_EVERY} idle periods after it nothing makes it grow;
 *   <li>a spin that catches I/O keeps the window;
 *   <li>I/O that woke the sleeping loop within the cap would have been caught by a spin: the window
 *       goes to the cap;
 *   <li>every {@link #MISSES_TO_HALVE}th wake-up in a row later than the cap halves it (below
 *       {@link #MIN_SPIN_NANOS}: zero), so a loop with sparse traffic stops paying for a spin per
 *       message, while one loop of a ping-pong whose peer still blocks keeps spinning long enough
 *       for the peer to start too;
 *   <li>a wake-up for a timer says nothing about the work and changes nothing;
 *   <li>a loop at zero with no task from another thread for {@link #TRIAL_EVERY} idle periods tries
 *       the cap for {@link #TRIAL_LENGTH} periods; I/O caught meanwhile keeps it there. Trials are
 *       how two loops that ping-pong find each other again: while both block, each sees the other's
 *       wake-up in every gap, and on a machine where a wake-up takes longer than the cap neither
 *       would ever grow; a trial on each side that overlaps the other's ends that.
 * </ul>
 * A fixed window ({@link #fixed}) never adapts: busy polling, or blocking at once, as an explicit
 * choice.
 */
final class SpinWindow {
    /** A window halved below this is zero: a spin that short catches nothing a wake-up would not. */
    static final long MIN_SPIN_NANOS = 2_000;
    /**
     * A loop at zero tries the cap again every this many idle periods (without tasks from others);
     * a power of two.
     */
    static final int TRIAL_EVERY = 64;
    /** How many idle periods a trial spins the cap: long enough to overlap the peer loop's trial. */
    static final int TRIAL_LENGTH = 8;
    /**
     * Misses in a row that halve the window: one loop of a ping-pong that spins while its peer still
     * blocks misses often (each answer waits for the peer's wake-up); halving at once would end its
     * spin before the peer, answered promptly now, starts spinning too.
     */
    static final int MISSES_TO_HALVE = 4;

    private final long capNanos;
    private final boolean adaptive;
    /** Written by the loop thread only; volatile so that metrics and tests may read it from others. */
    private volatile long windowNanos;
    /** Idle periods left in the current trial, after this one. */
    private int trialLeft;
    /** Wake-ups in a row later than the cap (the spin missed). */
    private int misses;
    /** This idle period spins as part of a trial. */
    private boolean inTrial;
    /** Idle periods since a task from another thread, up to {@link #TRIAL_EVERY} (all that is asked of it). */
    private int periodsWithoutTasks;
    /** Counts idle periods, wrapping: a trial may start when its low bits are zero. */
    private int trialClock;

    private SpinWindow(long capNanos, boolean adaptive) {
        this.capNanos = capNanos;
        this.adaptive = adaptive;
        this.windowNanos = capNanos;
    }

    /** Always {@code nanos}: zero blocks at once, a long one busy-polls. */
    static SpinWindow fixed(long nanos) {
        return new SpinWindow(nanos, false);
    }

    /** Adapts between zero and {@code capNanos}; starts at the cap (the first spins tell). */
    static SpinWindow adaptive(long capNanos) {
        return new SpinWindow(capNanos, true);
    }

    /** Whether the window adapts (the default policy), as opposed to a fixed spin chosen explicitly. */
    boolean isAdaptive() {
        return adaptive;
    }

    /** The spin of the next idle period (as {@link #startIdle} would give it, without starting one). */
    long nanos() {
        return trialLeft > 0 ? capNanos : windowNanos;
    }

    /** The window learned so far, trials aside. */
    long learnedNanos() {
        return windowNanos;
    }

    /** The loop goes idle: how long to spin before blocking. */
    long startIdle() {
        inTrial = false;
        if (!adaptive) {
            return windowNanos;
        }
        if (periodsWithoutTasks < TRIAL_EVERY) {
            periodsWithoutTasks++;
        }
        trialClock++;
        if (trialLeft > 0) {
            trialLeft--;
            inTrial = true;
        } else if (windowNanos == 0 && periodsWithoutTasks >= TRIAL_EVERY
                && (trialClock & (TRIAL_EVERY - 1)) == 0) {
            trialLeft = TRIAL_LENGTH - 1;
            inTrial = true;
        }
        return inTrial ? capNanos : windowNanos;
    }

    /**
     * The spin caught work (how soon does not matter: it was within the window);
     * {@code fromAnotherThread}: a task another thread submitted was among it.
     */
    void caught(boolean fromAnotherThread) {
        if (!adaptive) {
            return;
        }
        if (fromAnotherThread) {
            taskFromAnotherThread();
            return;
        }
        misses = 0;
        if (inTrial) {
            // A trial caught I/O: the peer answers while this loop spins. Spin fully again.
            windowNanos = capNanos;
            trialLeft = 0;
            inTrial = false;
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
        if (fromAnotherThread) {
            taskFromAnotherThread();
        } else if (gapNanos <= capNanos) {
            misses = 0;
            // Where other threads' tasks came lately, stay put (see the class comment); else spin
            // fully at once: the peer answers within a spin.
            if (periodsWithoutTasks >= TRIAL_EVERY) {
                windowNanos = capNanos;
            }
        } else if (++misses % MISSES_TO_HALVE == 0) {
            long half = windowNanos / 2;
            windowNanos = half < MIN_SPIN_NANOS ? 0 : half;
        }
    }

    /** A task submitted by another thread came while the loop was idle (or since it last was). */
    void taskFromAnotherThread() {
        windowNanos = 0;
        trialLeft = 0;
        inTrial = false;
        periodsWithoutTasks = 0;
    }

    @Override
    public String toString() {
        return adaptive ? "adaptive spin " + windowNanos + " ns (cap " + capNanos + ")"
                : "fixed spin " + windowNanos + " ns";
    }
}
