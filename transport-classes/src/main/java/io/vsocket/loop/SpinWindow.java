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
 *   <li>beside the window, a loop waits for the task that answers what it read ({@link HandBack}):
 *       after a turn that I/O alone woke, with no other thread's task since, it spins — yielding its
 *       core, when the window is zero — as long as such answers have been coming back within the cap.
 *       That is the work that crosses threads; blocking there made the answer wake the loop, and a
 *       wake-up is the dearest part of such a round trip. With every core taken ({@link FreeCores})
 *       it blocks instead, and learns from the wake-up as from a wait.
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
    /** {@code -Dio.vsocket.handBack=false}: no wait for other threads' tasks ({@link HandBack}), the policy before it. */
    static final boolean HAND_BACK = !"false".equals(System.getProperty("io.vsocket.handBack"));

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
    /** The wait for another thread's task after a turn that I/O alone woke and no task followed. */
    private final HandBack handBack;
    /** This idle period's spin without the wait for a task. */
    private long periodWindow;
    /** The last idle period ended with I/O, not another thread's task. */
    private boolean lastWokenByIo;
    /** This idle period waits for another thread's task (see {@link #startIdle(boolean)}). */
    private boolean waiting;

    private SpinWindow(long capNanos, boolean adaptive) {
        this.capNanos = capNanos;
        this.adaptive = adaptive;
        this.windowNanos = capNanos;
        this.handBack = new HandBack(capNanos);
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

    /** How long a loop waits for another thread's task after handing it work (see {@link HandBack}). */
    long handBackNanos() {
        return handBack.nanos();
    }

    /**
     * Whether the spin of this idle period is a wait for another thread's task alone: then the loop
     * yields its core now and then as it spins, so that the very thread it waits for — woken by this
     * loop, and often queued on its core — runs. Loop-to-loop spins do not: a yield costs a system
     * call, and hands the core to whatever else is runnable.
     */
    boolean yields() {
        return waitsBeyondWindow() && periodWindow == 0;
    }

    /** The window learned so far, trials aside. */
    long learnedNanos() {
        return windowNanos;
    }

    /** The loop goes idle after a turn that is not known to have handed work to another thread. */
    long startIdle() {
        return startIdle(false);
    }

    /**
     * The loop goes idle: how long to spin before blocking. {@code quietSinceWoken}: no task of
     * another thread came since the loop last woke (or its spin caught work). When that waking work
     * was I/O, the turn may have handed what it read to a thread outside the loops (gRPC's executor,
     * a caller blocked on a future), which answers with a task: such a period also waits for the
     * task, as long as {@link HandBack} has learned that one comes.
     */
    long startIdle(boolean quietSinceWoken) {
        inTrial = false;
        waiting = false;
        if (!adaptive) {
            return windowNanos;
        }
        waiting = HAND_BACK && quietSinceWoken && lastWokenByIo;
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
        long nanos = inTrial ? capNanos : windowNanos;
        periodWindow = nanos;
        return waiting ? Math.max(nanos, handBack.nanos()) : nanos;
    }

    /**
     * The spin caught work (how soon does not matter: it was within the window);
     * {@code fromAnotherThread}: a task another thread submitted was among it.
     */
    void caught(boolean fromAnotherThread) {
        caught(fromAnotherThread, 0);
    }

    /** As {@link #caught(boolean)}, {@code gapNanos} after the loop went idle. */
    void caught(boolean fromAnotherThread, long gapNanos) {
        if (!adaptive) {
            return;
        }
        if (fromAnotherThread) {
            taskEndedIdle(gapNanos);
            return;
        }
        handBackMissed();
        lastWokenByIo = true;
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
            taskEndedIdle(gapNanos);
            return;
        }
        handBackMissed();
        lastWokenByIo = true;
        if (gapNanos <= capNanos) {
            misses = 0;
            // Where other threads' tasks came lately, stay put (see the class comment); else spin
            // fully at once: the peer answers within a spin.
            if (periodsWithoutTasks >= TRIAL_EVERY) {
                windowNanos = capNanos;
            }
        } else if (++misses % MISSES_TO_HALVE == 0) {
            windowNanos = halved(windowNanos);
        }
    }

    /**
     * A timer fell due and ended the idle period: nothing learned (as before), and the turn it starts
     * hands nothing over, so the next idle period does not wait for an answer.
     */
    void wokenByTimer() {
        waiting = false;
        lastWokenByIo = false;
    }

    /**
     * I/O ended the idle period at once (ready as the loop went to block, which says nothing about
     * a spin): the turn it starts is one that I/O woke; a wait for an answer missed.
     */
    void wokenByIoAtOnce() {
        if (!adaptive) {
            return;
        }
        handBackMissed();
        lastWokenByIo = true;
    }

    /** The spin ran its whole length: a wait for an answer that spun (beyond the window) missed it. */
    void spinRanOut() {
        if (waitsBeyondWindow()) {
            handBackMissed();
        }
    }

    private void handBackMissed() {
        if (waiting) {
            waiting = false;
            handBack.miss();
        }
    }

    /**
     * Whether this idle period spins longer than its loop-to-loop window to wait for another thread's
     * task: a wait the loop may give up ({@link #waitGivenUp}).
     */
    boolean waitsBeyondWindow() {
        return waiting && handBack.nanos() > periodWindow;
    }

    /**
     * The period's wait for a task ends early: another loop spins without yielding (see
     * {@link SpinningLoops}). That tells nothing of how soon a task would have come; the period's
     * spin is the loop-to-loop window from now on: returned.
     */
    long waitGivenUp() {
        waiting = false;
        return periodWindow;
    }

    /**
     * A task another thread submitted ended the idle period {@code gapNanos} after it began (caught
     * by the spin, waking the loop, or seen just before it blocked).
     */
    void taskEndedIdle(long gapNanos) {
        if (waiting) {
            waiting = false;
            handBack.taskAfter(gapNanos);
        }
        taskFromAnotherThread();
    }

    /** Half a window, or zero below {@link #MIN_SPIN_NANOS}: what a run of misses leaves (the window's and {@link HandBack}'s). */
    static long halved(long nanos) {
        long half = nanos / 2;
        return half < MIN_SPIN_NANOS ? 0 : half;
    }

    /** A task submitted by another thread came while the loop was idle (or since it last was). */
    void taskFromAnotherThread() {
        if (!adaptive) {
            return; // a fixed spin is an explicit choice (this once zeroed it, when a task raced the block)
        }
        lastWokenByIo = false;
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
