package io.vsocket.microbench;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The round diagnostic reads the scheduler's figures of this process's threads and names the busy ones. */
class ThreadScheduleTest {
    private static volatile long sink;

    @Test
    void aThreadThatRanShowsWithItsTimeOnTheCpu() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        Thread busy = new Thread(() -> {
            long x = 0;
            while (!stop.get()) {
                x += x * 31 + 7;
            }
            sink = x;
        }, "busy-for-test");
        busy.start();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            // Both snapshots while it runs: a thread that ended is gone from /proc/self/task.
            ThreadSchedule schedule = new ThreadSchedule();
            Thread.sleep(100);
            schedule.print(1, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        } finally {
            stop.set(true);
            busy.join();
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("machine's speed after the round") && out.contains("machine per request"), out);
        // comm names are cut to 15 characters
        String line = out.lines().filter(l -> l.contains("busy-for-test")).findFirst().orElseThrow(() -> new AssertionError(out));
        double runMicros = Double.parseDouble(line.replaceAll(".* run +([0-9.]+) us.*", "$1"));
        assertTrue(runMicros >= 10_000, "at least 10 ms on a CPU: " + line);
    }

    @Test
    void aStatLineIsSplitAfterTheCommandWhateverItHolds() {
        // proc(5): pid (comm) state ppid ... minflt is field 10, processor field 39; comm may hold ") " itself.
        StringBuilder line = new StringBuilder("4242 (a) b (c)) S");
        for (int field = 4; field <= 52; field++) {
            line.append(' ').append(field * 100);
        }
        line.append('\n');
        String[] fields = ThreadSchedule.statFields(line.toString());
        assertEquals("4242", fields[1]);
        assertEquals("a) b (c)", fields[2]);
        assertEquals("S", fields[3]);
        assertEquals("1000", fields[10]);
        assertEquals("3900", fields[39]);
        assertEquals(53, fields.length);
    }
}
