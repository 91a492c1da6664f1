package io.vsocket.loop;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The adaptive idle policy's rules, one outcome at a time. */
class SpinWindowTest {
    private static final long CAP = 50_000;

    /** Idle periods that end in I/O caught by the spin (or, at zero, in I/O that woke the loop soon). */
    private static void quietPeriods(SpinWindow w, int n) {
        for (int i = 0; i < n; i++) {
            long spin = w.startIdle();
            if (spin > 0) {
                w.caught(false);
            } else {
                w.wokenByWork(1_000, false);
            }
        }
    }

    @Test
    void startsAtTheCapAndKeepsItWhileSpinsCatchIo() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        assertEquals(CAP, w.nanos());
        quietPeriods(w, 1000);
        assertEquals(CAP, w.nanos());
    }

    @Test
    void aTaskFromAnotherThreadStopsTheSpinWhetherCaughtOrWokenBy() {
        SpinWindow caught = SpinWindow.adaptive(CAP);
        caught.startIdle();
        caught.caught(true);
        assertEquals(0, caught.nanos());
        SpinWindow woken = SpinWindow.adaptive(CAP);
        woken.startIdle();
        woken.wokenByWork(500, true);
        assertEquals(0, woken.nanos());
    }

    @Test
    void afterATaskIoDoesNotRestartTheSpinUntilTasksHaveStayedAway() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        w.startIdle();
        w.caught(true);
        for (int i = 1; i < SpinWindow.TRIAL_EVERY; i++) {
            assertEquals(0, w.startIdle(), "period " + i);
            w.wokenByWork(1_000, false);
            assertEquals(0, w.nanos(), "period " + i);
        }
        w.startIdle(); // the TRIAL_EVERY-th period without a task
        w.wokenByWork(1_000, false);
        assertEquals(CAP, w.learnedNanos(), "I/O within the cap, tasks away: the full spin (not a trial's)");
    }

    @Test
    void missesInARowHalveItDownToZero() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        long expected = CAP;
        for (int round = 0; expected > 0; round++) {
            for (int i = 1; i < SpinWindow.MISSES_TO_HALVE; i++) {
                w.startIdle();
                w.wokenByWork(CAP + 1, false);
                assertEquals(expected, w.nanos(), "round " + round + ", miss " + i);
            }
            w.startIdle();
            w.wokenByWork(CAP + 1, false);
            expected = expected / 2 < SpinWindow.MIN_SPIN_NANOS ? 0 : expected / 2;
            assertEquals(expected, w.nanos());
        }
    }

    @Test
    void aCatchBetweenMissesResetsTheirCount() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        for (int i = 0; i < 10 * SpinWindow.MISSES_TO_HALVE; i++) {
            w.startIdle();
            if (i % SpinWindow.MISSES_TO_HALVE == SpinWindow.MISSES_TO_HALVE - 1) {
                w.caught(false);
            } else {
                w.wokenByWork(CAP + 1, false);
            }
        }
        assertEquals(CAP, w.nanos());
    }

    @Test
    void aLoopAtZeroTriesTheCapPeriodicallyAndKeepsItWhenATrialCatchesIo() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        while (w.nanos() > 0) { // sparse traffic: every wake-up late
            w.startIdle();
            w.wokenByWork(10 * CAP, false);
        }
        int trialSpins = 0;
        for (int i = 0; i < 10 * SpinWindow.TRIAL_EVERY; i++) {
            long spin = w.startIdle();
            if (spin > 0) {
                assertEquals(CAP, spin);
                trialSpins++;
            }
            w.wokenByWork(10 * CAP, false); // the trial missed too
        }
        // One trial of TRIAL_LENGTH periods in every TRIAL_EVERY (the first or last may fall partly outside).
        assertTrue(trialSpins >= 9 * SpinWindow.TRIAL_LENGTH && trialSpins <= 10 * SpinWindow.TRIAL_LENGTH,
                "trial spins: " + trialSpins);
        assertEquals(0, w.learnedNanos());
        long spin;
        do {
            spin = w.startIdle();
            if (spin == 0) {
                w.wokenByWork(10 * CAP, false);
            }
        } while (spin == 0);
        w.caught(false); // a trial catches the peer's answer
        quietPeriods(w, 3 * SpinWindow.TRIAL_LENGTH);
        assertEquals(CAP, w.learnedNanos(), "the trial's catch keeps the full spin past the trial");
    }

    @Test
    void aTimerWakeUpIsNotAnOutcome() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        for (int i = 0; i < 100; i++) {
            w.startIdle(); // ended by a timer: neither caught nor woken by work
        }
        assertEquals(CAP, w.nanos());
    }

    @Test
    void aFixedSpinNeverChanges() {
        SpinWindow w = SpinWindow.fixed(CAP);
        w.startIdle();
        w.caught(true);
        w.startIdle();
        w.wokenByWork(1_000_000, true);
        for (int i = 0; i < 100; i++) {
            w.startIdle();
            w.wokenByWork(1_000_000, false);
        }
        assertEquals(CAP, w.nanos());
        assertEquals(0, SpinWindow.fixed(0).startIdle());
    }
    /**
     * A loop woken by I/O, which hands what it read to another thread that answers with a task (gRPC's
     * executor, a caller blocked on a future): once an answer came within the cap, the period after such
     * a turn waits the cap for it, yielding as it spins (its regular spin being zero for the tasks).
     */
    @Test
    void aLoopThatHandsWorkOverWaitsForTheAnswer() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        w.startIdle();
        w.wokenByWork(10 * CAP, true); // the first call: a task from another thread
        w.startIdle(true);
        w.wokenByWork(10 * CAP, false); // the request, read and handed over
        assertEquals(0, w.startIdle(true), "nothing learned yet: blocks");
        w.wokenByWork(CAP / 4, true); // the answer, soon after
        assertEquals(CAP, w.handBackNanos());
        assertEquals(0, w.startIdle(true), "after running the answer: no wait (the next request is I/O)");
        assertFalse(w.yields());
        w.wokenByWork(10 * CAP, false);
        for (int i = 0; i < 100; i++) {
            assertEquals(CAP, w.startIdle(true), "request " + i);
            assertTrue(w.yields(), "a wait for a task alone yields");
            w.caught(true); // the answer, caught by the wait
            w.startIdle(true);
            w.wokenByWork(10 * CAP, false); // the next request
        }
        assertEquals(CAP, w.handBackNanos());
        assertEquals(0, w.learnedNanos(), "the tasks keep the loop-to-loop spin at zero");
    }

    /** The wait is only for a turn that I/O alone woke: a task since, and the period does not wait. */
    @Test
    void aTurnThatAnotherThreadsTaskWokeDoesNotWait() {
        SpinWindow w = handingOver();
        w.startIdle(true);
        w.wokenByWork(10 * CAP, false);
        assertEquals(0, w.startIdle(false), "a task came since the loop woke");
        w.wokenByWork(10 * CAP, true);
        assertEquals(0, w.startIdle(true), "woken by a task");
        assertEquals(0, w.startIdle(), "the plain startIdle knows of no hand-over");
    }

    /**
     * Where no answer comes after the reads (a server that answers from its handler, or another
     * thread's tasks that do not follow reads), every {@link SpinWindow#MISSES_TO_HALVE}th miss in a
     * row halves the wait down to zero; an answer within the cap restores it.
     */
    @Test
    void aWaitThatCatchesNoAnswerFadesAndAnAnswerRestoresIt() {
        SpinWindow w = handingOver();
        long expected = CAP;
        int misses = 0;
        while (expected > 0) {
            assertEquals(expected, w.startIdle(true));
            w.wokenByWork(10 * CAP, false); // I/O, not an answer
            if (++misses % SpinWindow.MISSES_TO_HALVE == 0) {
                expected = expected / 2 < SpinWindow.MIN_SPIN_NANOS ? 0 : expected / 2;
            }
            assertEquals(expected, w.handBackNanos(), "miss " + misses);
        }
        assertEquals(0, w.startIdle(true));
        w.wokenByWork(2 * CAP, true); // an answer later than the cap: no wait would have caught it
        assertEquals(0, w.handBackNanos());
        w.startIdle(true);
        w.wokenByWork(10 * CAP, false);
        w.startIdle(true);
        w.wokenByWork(CAP, true);
        assertEquals(CAP, w.handBackNanos(), "an answer within the cap");
    }

    /** A loop-to-loop spin in the same period does not yield; a fixed spin never waits for answers. */
    @Test
    void onlyAWaitForAnAnswerAloneYields() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        w.startIdle();
        w.wokenByWork(1_000, false);
        assertEquals(CAP, w.startIdle(true), "the loop-to-loop spin, at the cap from the start");
        assertFalse(w.yields());
        SpinWindow fixed = SpinWindow.fixed(0);
        for (int i = 0; i < 10; i++) {
            fixed.startIdle(true);
            fixed.wokenByWork(1_000, false);
            fixed.startIdle(true);
            fixed.wokenByWork(1_000, true);
        }
        assertEquals(0, fixed.startIdle(true));
        assertEquals(0, fixed.handBackNanos());
    }

    /** A timer's turn hands nothing over: no wait after it, and nothing learned from it. */
    @Test
    void aTimerEndsTheWaitWithoutALesson() {
        SpinWindow w = handingOver();
        assertEquals(CAP, w.startIdle(true));
        w.wokenByTimer();
        assertEquals(CAP, w.handBackNanos(), "no miss");
        assertEquals(0, w.startIdle(true), "the timer's turn is not one that I/O woke");
        w.wokenByIoAtOnce();
        assertEquals(CAP, w.startIdle(true), "I/O ready at once woke this turn");
    }

    /** A wait that spins its whole length without the answer is a miss, and a later answer teaches nothing. */
    @Test
    void aWaitThatRunsOutMisses() {
        SpinWindow w = handingOver();
        for (int i = 0; i < SpinWindow.MISSES_TO_HALVE; i++) {
            assertEquals(CAP, w.startIdle(true));
            w.spinRanOut();
            w.wokenByWork(2 * CAP, true); // the answer, after the cap
            w.startIdle(true);
            w.wokenByWork(10 * CAP, false);
        }
        assertEquals(CAP / 2, w.handBackNanos());
        assertEquals(CAP / 2, w.startIdle(true));
        w.spinRanOut();
        w.wokenByWork(CAP * 3 / 4, true); // within the cap, but after the wait: not a hit
        assertEquals(CAP / 2, w.handBackNanos());
    }

    /** A window that has learned to wait the cap for answers, the last period woken by I/O. */
    private static SpinWindow handingOver() {
        SpinWindow w = SpinWindow.adaptive(CAP);
        w.startIdle();
        w.wokenByWork(10 * CAP, false);
        w.startIdle(true);
        w.wokenByWork(CAP / 2, true);
        w.startIdle(true);
        w.wokenByWork(10 * CAP, false);
        assertEquals(CAP, w.handBackNanos());
        return w;
    }
}
