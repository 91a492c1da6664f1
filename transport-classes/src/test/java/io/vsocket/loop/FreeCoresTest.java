package io.vsocket.loop;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The runnable-thread count the adaptive spin reads, parsed from {@code /proc/loadavg}'s format and read live. */
class FreeCoresTest {
    private static int parse(String line) {
        byte[] bytes = line.getBytes(StandardCharsets.US_ASCII);
        return FreeCores.parse(ByteBuffer.wrap(bytes), bytes.length);
    }

    @Test
    void theFourthFieldsRunnableCountIsParsed() {
        assertEquals(3, parse("0.52 0.58 0.59 3/467 12345\n"));
        assertEquals(120, parse("12.00 8.10 4.00 120/3000 1\n"));
    }

    @Test
    void anythingElseIsUnknown() {
        assertEquals(-1, parse(""));
        assertEquals(-1, parse("0.52 0.58 0.59"));
        assertEquals(-1, parse("0.52 0.58 0.59 /467 1"));
        assertEquals(-1, parse("0.52 0.58 0.59 x/467 1"));
        assertEquals(-1, parse("0.52 0.58 0.59 99999999999/467 1"), "too many digits for a count");
        assertEquals(-1, parse("0.52 0.58 0.59 3"), "no slash");
    }

    @Test
    void theLiveCountIncludesTheThreadThatAsks() {
        int runnable = new FreeCores().runnable();
        assertTrue(runnable >= 1, "this thread runs: " + runnable);
    }

    @Test
    void aSampleHoldsUntilItIsOld() {
        FreeCores cores = new FreeCores();
        long now = 1_000_000_000L;
        boolean first = cores.spare(now);
        // Within the sample period the answer is the same whatever the host does meanwhile.
        for (int i = 0; i < 100; i++) {
            assertEquals(first, cores.spare(now + FreeCores.SAMPLE_NANOS - 1));
        }
    }
}
