package io.vsocket.loop;

/**
 * How long an idle loop waits for the task another thread sends back after the loop handed it work:
 * part of {@link SpinWindow}. Owned by the loop thread (others may read the window); no allocation.
 *
 * <p>Applications whose work crosses threads answer through the loop with a task: gRPC's executor
 * writes its response through the channel's loop, a caller blocked on a future writes its next
 * request. Such a task follows, within some tens of microseconds, a loop turn that read what it
 * answers and handed it over. A loop that blocked meanwhile costs the task a system call to wake
 * it and itself a wake-up before the task runs. A loop that waits for it instead, yielding its core
 * while it waits ({@link SpinWindow#yields()}), runs it at once and leaves the core to the thread
 * that writes it, which the scheduler tends to put on the core of the loop that woke it.
 * <ul>
 *   <li>a task that came back within the cap (caught, or waking the loop that blocked) sets the window
 *       to the cap;
 *   <li>every {@link SpinWindow#MISSES_TO_HALVE}th miss in a row (I/O came first, or a task later than
 *       the cap) halves it, below {@link SpinWindow#MIN_SPIN_NANOS} to zero: a loop after whose reads no
 *       task comes back (an HTTP server that answers from its handler) stops waiting for one.
 * </ul>
 * It starts at zero: only a task seen to come back within the cap makes a loop wait.
 */
final class HandBack {
    private final long capNanos;
    /** Written by the loop thread only; volatile so that metrics and tests may read it from others. */
    private volatile long windowNanos;
    /** Misses in a row. */
    private int misses;

    HandBack(long capNanos) {
        this.capNanos = capNanos;
    }

    /** How long to wait for a task after a turn that handed work over. */
    long nanos() {
        return windowNanos;
    }

    /** Another thread's task came {@code gapNanos} after the loop went idle. */
    void taskAfter(long gapNanos) {
        if (gapNanos > capNanos) {
            miss();
        } else {
            misses = 0;
            windowNanos = capNanos;
        }
    }

    /** The wait ended with something other than another thread's task within the cap. */
    void miss() {
        if (windowNanos > 0 && ++misses % SpinWindow.MISSES_TO_HALVE == 0) {
            windowNanos = SpinWindow.halved(windowNanos);
        }
    }

    @Override
    public String toString() {
        return windowNanos + " ns";
    }
}
