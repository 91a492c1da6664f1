package io.vsocket.loop;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
