package io.vsocket.microbench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What the kernel's scheduler did with each of this process's threads over a measurement, read from
 * {@code /proc/self/task/<tid>/schedstat} (time on a CPU, time runnable but waiting for one, slices) and
 * {@code /proc/self/task/<tid>/sched} (switches, migrations). A diagnostic for rounds whose figures
 * differ while nothing in the code did ({@code -Dio.vsocket.bench.threadSchedule=true}): it tells whether
 * a slow round's threads waited in a run queue, moved between CPUs, or switched more.
 */
final class ThreadSchedule {
    /** Whether a round prints its threads' schedule. */
    static final boolean ENABLED = Boolean.getBoolean("io.vsocket.bench.threadSchedule");

    private record Sample(String name, long runNanos, long waitNanos, long slices, long migrations,
                          long voluntary, long involuntary, int cpu, long minorFaults) {
    }

    private final String speedAtStart = speed();
    private final Map<String, Sample> start = read();
    private final long[] interruptsAtStart = interrupts();
    private final long[] cpuAtStart = cpuTicks();

    /** Prints each busy thread's figures per request since this snapshot, busiest first. */
    void print(long requests, PrintStream out) {
        Map<String, Sample> end = read();
        List<String[]> rows = new ArrayList<>();
        long totalWait = 0;
        for (Map.Entry<String, Sample> e : end.entrySet()) {
            Sample a = start.get(e.getKey());
            Sample b = e.getValue();
            if (a == null) {
                continue;
            }
            long run = b.runNanos - a.runNanos;
            if (run < 1_000_000) {
                continue;
            }
            long wait = b.waitNanos - a.waitNanos;
            totalWait += wait;
            rows.add(new String[] {String.format(Locale.ROOT, "%012d", run), String.format(Locale.ROOT,
                    "    %-28s cpu%d>%d run %6.2f us  wait %6.2f us  slices %5.2f  vol %5.2f  invol %5.2f  migr %5.3f  faults %6.2f", b.name, a.cpu, b.cpu,
                    run / 1e3 / requests, wait / 1e3 / requests, (double) (b.slices - a.slices) / requests,
                    (double) (b.voluntary - a.voluntary) / requests, (double) (b.involuntary - a.involuntary) / requests,
                    (double) (b.migrations - a.migrations) / requests, (double) (b.minorFaults - a.minorFaults) / requests)});
        }
        rows.sort((x, y) -> y[0].compareTo(x[0]));
        long[] interrupts = interrupts();
        long[] cpu = cpuTicks();
        out.printf(Locale.ROOT, "  machine per request: RES %.2f CAL %.2f IWI %.2f LOC %.3f; ticks user %d system %d idle %d softirq %d%n",
                (double) (interrupts[0] - interruptsAtStart[0]) / requests, (double) (interrupts[1] - interruptsAtStart[1]) / requests,
                (double) (interrupts[2] - interruptsAtStart[2]) / requests, (double) (interrupts[3] - interruptsAtStart[3]) / requests,
                cpu[0] - cpuAtStart[0], cpu[2] - cpuAtStart[2], cpu[3] - cpuAtStart[3], cpu[6] - cpuAtStart[6]);
        out.println("  speed at start " + speedAtStart + ", at end " + speed());
        out.printf(Locale.ROOT, "  threads per request (run-queue wait in all %.2f us):%n", totalWait / 1e3 / requests);
        for (String[] row : rows) {
            out.println(row[1]);
        }
    }

    private static Map<String, Sample> read() {
        Map<String, Sample> samples = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String name = Files.readString(task.resolve("comm")).strip();
                    String[] stat = Files.readString(task.resolve("schedstat")).strip().split(" ");
                    long migrations = 0;
                    long voluntary = 0;
                    long involuntary = 0;
                    for (String line : Files.readAllLines(task.resolve("sched"))) {
                        if (line.startsWith("se.nr_migrations")) {
                            migrations = value(line);
                        } else if (line.startsWith("nr_voluntary_switches")) {
                            voluntary = value(line);
                        } else if (line.startsWith("nr_involuntary_switches")) {
                            involuntary = value(line);
                        }
                    }
                    String procStat = Files.readString(task.resolve("stat"));
                    // Fields after the command's closing parenthesis: state is field 3, minor faults 10, the last CPU 39.
                    String[] fields = procStat.substring(procStat.lastIndexOf(')') + 2).split(" ");
                    samples.put(task.getFileName() + " " + name, new Sample(name + "/" + task.getFileName(),
                            Long.parseLong(stat[0]), Long.parseLong(stat[1]), Long.parseLong(stat[2]), migrations,
                            voluntary, involuntary, Integer.parseInt(fields[39 - 3]), Long.parseLong(fields[10 - 3])));
                } catch (IOException | RuntimeException gone) {
                    // the thread ended while being read
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return samples;
    }

    private static volatile long sink;

    /**
     * The machine's speed now: milliseconds a fixed computation takes alone (best of 5), then on two
     * threads at once, and a fixed amount of memory copied (best of 5) — to tell a round on a slower
     * machine (a busy host) from one whose threads did more.
     */
    private static String speed() {
        long alone = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            alone = Math.min(alone, compute());
        }
        long[] both = new long[2];
        Thread other = new Thread(() -> both[1] = compute());
        other.start();
        both[0] = compute();
        try {
            other.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long copies = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            copies = Math.min(copies, copy());
        }
        return String.format(Locale.ROOT, "%.2f ms alone, %.2f / %.2f ms two at once; 256 MiB copied in %.2f ms",
                alone / 1e6, both[0] / 1e6, both[1] / 1e6, copies / 1e6);
    }

    /** Copies 256 MiB, 256 KiB at a time, between buffers of 8 MiB (past the caches): memory's speed. */
    private static long copy() {
        byte[] from = new byte[8 << 20];
        byte[] to = new byte[8 << 20];
        java.util.Arrays.fill(from, (byte) 1);
        long started = System.nanoTime();
        for (int round = 0; round < 32; round++) {
            for (int at = 0; at < from.length; at += 256 << 10) {
                System.arraycopy(from, at, to, at, 256 << 10);
            }
        }
        sink = to[to.length / 2];
        return System.nanoTime() - started;
    }

    private static long compute() {
        long started = System.nanoTime();
        long x = 1;
        for (int i = 0; i < 20_000_000; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            x ^= x >>> 29;
        }
        sink = x;
        return System.nanoTime() - started;
    }

    /** Rescheduling, function-call, irq-work and local timer interrupts, every CPU's summed. */
    private static long[] interrupts() {
        long[] counts = new long[4];
        List<String> kinds = List.of("RES:", "CAL:", "IWI:", "LOC:");
        try {
            for (String line : Files.readAllLines(Path.of("/proc/interrupts"))) {
                String[] f = line.trim().split("\\s+");
                int kind = kinds.indexOf(f[0]);
                if (kind >= 0) {
                    for (int i = 1; i < f.length && f[i].chars().allMatch(Character::isDigit); i++) {
                        counts[kind] += Long.parseLong(f[i]);
                    }
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return counts;
    }

    /** The machine's CPU ticks: user, nice, system, idle, iowait, irq, softirq, steal. */
    private static long[] cpuTicks() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long[] ticks = new long[8];
            for (int i = 0; i < 8; i++) {
                ticks[i] = Long.parseLong(f[i + 1]);
            }
            return ticks;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static long value(String line) {
        return Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
    }
}
