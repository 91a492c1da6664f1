package io.vsocket.channel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The adaptive idle policy's rules, one outcome at a time. */
class SpinWindowTest {
    private static final long CAP = 50_000;
    private static final long LIMIT = 20_000;

    @Test
    void startsAtTheCapAndKeepsItWhileSpinsCatchIoSoon() {
        SpinWindow w = SpinWindow.adaptive(CAP, LIMIT);
        assertEquals(CAP, w.nanos());
        for (int i = 0; i < 1000; i++) {
            w.caught(1_000, false);
        }
        assertEquals(CAP, w.nanos());
    }

    @Test
    void aTaskFromAnotherThreadStopsTheSpinWhetherCaughtOrWokenBy() {
        SpinWindow caught = SpinWindow.adaptive(CAP, LIMIT);
        caught.caught(500, true);
        assertEquals(0, caught.nanos());
        SpinWindow woken = SpinWindow.adaptive(CAP, LIMIT);
        woken.wokenByWork(500, true);
        assertEquals(0, woken.nanos());
    }

    @Test
    void lateCatchesHalveItDownToZero() {
        SpinWindow w = SpinWindow.adaptive(CAP, LIMIT);
        w.caught(LIMIT + 1, false);
        assertEquals(CAP / 2, w.nanos());
        long expected = CAP / 2;
        while (expected >= SpinWindow.GROW_START_NANOS) {
            w.caught(LIMIT + 1, false);
            expected /= 2;
            assertEquals(expected < SpinWindow.GROW_START_NANOS ? 0 : expected, w.nanos());
        }
        assertEquals(0, w.nanos());
    }

    @Test
    void ioSoonAfterBlockingGrowsItByDoublingUpToTheCap() {
        SpinWindow w = SpinWindow.adaptive(CAP, LIMIT);
        w.wokenByWork(LIMIT + 1, false); // slept long: block at once
        assertEquals(0, w.nanos());
        w.wokenByWork(LIMIT, false);
        assertEquals(SpinWindow.GROW_START_NANOS, w.nanos());
        w.wokenByWork(5_000, false);
        assertEquals(2 * SpinWindow.GROW_START_NANOS, w.nanos());
        for (int i = 0; i < 20; i++) {
            w.wokenByWork(5_000, false);
        }
        assertEquals(CAP, w.nanos());
    }

    @Test
    void theGrowLimitNeverExceedsTheCap() {
        SpinWindow w = SpinWindow.adaptive(10_000, LIMIT);
        w.wokenByWork(15_000, false); // within LIMIT but beyond the cap: a spin could not have caught it
        assertEquals(0, w.nanos());
    }

    @Test
    void aFixedSpinNeverChanges() {
        SpinWindow w = SpinWindow.fixed(CAP);
        w.caught(1, true);
        w.wokenByWork(1_000_000, true);
        w.caught(1_000_000, false);
        assertEquals(CAP, w.nanos());
        assertEquals(0, SpinWindow.fixed(0).nanos());
    }
}
