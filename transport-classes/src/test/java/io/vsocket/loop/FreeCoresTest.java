package io.vsocket.loop;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    /**
     * A loop whose thread was interrupted (by its application, say) keeps reading the count: a
     * {@code FileChannel}, as this once was, closes itself for good on a read with the interrupt set,
     * and from then on every loop sharing it took each core for spare.
     */
    @Test
    void aReadOnAnInterruptedThreadStillCounts(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("loadavg"), "9.00 9.00 9.00 4096/5000 42\n");
        try (FreeCores cores = new FreeCores(file)) {
            Thread.currentThread().interrupt();
            try {
                assertEquals(4096, cores.runnable());
            } finally {
                assertTrue(Thread.interrupted(), "the interrupt is left as it was");
            }
            assertEquals(4096, cores.runnable());
            assertFalse(cores.spare(0), "4096 runnable threads leave no core to spare");
        }
    }

    @Test
    void aFileThatCannotBeReadLeavesEveryCoreSpare(@TempDir Path dir) {
        try (FreeCores cores = new FreeCores(dir.resolve("missing"))) {
            assertEquals(-1, cores.runnable());
            assertTrue(cores.spare(0));
        }
        FreeCores closed = new FreeCores(dir.resolve("missing"));
        closed.close();
        closed.close(); // idempotent
    }
}
