package io.vsocket.microbench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What the kernel's scheduler did with each of this process's threads over a measurement, read from
 * {@code /proc/self/task/<tid>/schedstat} (time on a CPU, time runnable but waiting for one, slices),
 * {@code sched} (switches, migrations; kernels with scheduler debugging) and {@code stat} (minor faults,
 * the last CPU), with the machine's interrupts and CPU ticks beside them. A diagnostic for rounds whose
 * figures differ while nothing in the code did ({@code -Dio.vsocket.bench.threadSchedule=true}): it tells
 * a slower machine (its speed, measured after the round, outside the figures), queueing, and threads
 * that did more apart. A file the kernel does not have reads as zeros.
 */
final class ThreadSchedule {
    /** Whether a round prints its threads' schedule. */
    static final boolean ENABLED = Boolean.getBoolean("io.vsocket.bench.threadSchedule");

    record Sample(String name, long runNanos, long waitNanos, long slices, long migrations, long voluntary,
                  long involuntary, int cpu, long minorFaults) {
    }

    /** Interrupt kinds summed over the CPUs: rescheduling, function-call, irq-work, local timer. */
    private static final List<String> INTERRUPTS = List.of("RES:", "CAL:", "IWI:", "LOC:");

    private final Map<String, Sample> start = read();
    private final long[] interruptsAtStart = interrupts();
    private final long[] cpuAtStart = cpuTicks();

    /**
     * Prints each busy thread's figures per request since this snapshot, busiest first, then measures
     * the machine's speed (after the snapshot: call it once the round's own figures are taken).
     */
    void print(long requests, PrintStream out) {
        Map<String, Sample> end = read();
        long[] interrupts = interrupts();
        long[] cpu = cpuTicks();
        double n = Math.max(1, requests);
        List<Sample[]> busy = new ArrayList<>();
        long totalWait = 0;
        for (Map.Entry<String, Sample> e : end.entrySet()) {
            Sample a = start.get(e.getKey());
            Sample b = e.getValue();
            if (a != null && b.runNanos - a.runNanos >= 1_000_000) {
                busy.add(new Sample[] {a, b});
                totalWait += b.waitNanos - a.waitNanos;
            }
        }
        busy.sort(Comparator.comparingLong((Sample[] ab) -> ab[1].runNanos - ab[0].runNanos).reversed());
        out.printf(Locale.ROOT, "  machine per request: RES %.2f CAL %.2f IWI %.2f LOC %.3f; ticks user %d system %d idle %d softirq %d%n",
                (interrupts[0] - interruptsAtStart[0]) / n, (interrupts[1] - interruptsAtStart[1]) / n,
                (interrupts[2] - interruptsAtStart[2]) / n, (interrupts[3] - interruptsAtStart[3]) / n,
                cpu[0] - cpuAtStart[0], cpu[2] - cpuAtStart[2], cpu[3] - cpuAtStart[3], cpu[6] - cpuAtStart[6]);
        out.printf(Locale.ROOT, "  threads per request (run-queue wait in all %.2f us):%n", totalWait / 1e3 / n);
        for (Sample[] ab : busy) {
            Sample a = ab[0];
            Sample b = ab[1];
            out.printf(Locale.ROOT, "    %-28s cpu%d>%d run %6.2f us  wait %6.2f us  slices %5.2f  vol %5.2f  invol %5.2f  migr %5.3f  faults %6.2f%n",
                    b.name, a.cpu, b.cpu, (b.runNanos - a.runNanos) / 1e3 / n, (b.waitNanos - a.waitNanos) / 1e3 / n,
                    (b.slices - a.slices) / n, (b.voluntary - a.voluntary) / n, (b.involuntary - a.involuntary) / n,
                    (b.migrations - a.migrations) / n, (b.minorFaults - a.minorFaults) / n);
        }
        out.println("  machine's speed after the round: " + speed());
    }

    /** Every thread of the process now, by thread id. */
    private static Map<String, Sample> read() {
        Map<String, Sample> samples = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String tid = task.getFileName().toString();
                    String name = Files.readString(task.resolve("comm")).strip();
                    String[] schedstat = Files.readString(task.resolve("schedstat")).strip().split(" ");
                    long[] sched = sched(task.resolve("sched"));
                    String[] stat = statFields(Files.readString(task.resolve("stat")));
                    samples.put(tid, new Sample(name + "/" + tid, Long.parseLong(schedstat[0]), Long.parseLong(schedstat[1]),
                            Long.parseLong(schedstat[2]), sched[0], sched[1], sched[2], Integer.parseInt(stat[39]),
                            Long.parseLong(stat[10])));
                } catch (IOException | RuntimeException gone) {
                    // the thread ended while being read
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return samples;
    }

    /**
     * The fields of a {@code /proc/<pid>/stat} line, indexed as proc(5) numbers them (1: the pid, 2: the
     * command, 3: the state, ...; index 0 unused). The command is parenthesised and may itself hold spaces
     * and parentheses: it ends at the line's last ')'.
     */
    static String[] statFields(String line) {
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        String[] rest = line.substring(close + 2).strip().split(" ");
        String[] fields = new String[rest.length + 3];
        fields[1] = line.substring(0, open).strip();
        fields[2] = line.substring(open + 1, close);
        System.arraycopy(rest, 0, fields, 3, rest.length);
        return fields;
    }

    /** Migrations, voluntary and involuntary switches from a task's {@code sched} file (zeros without it). */
    private static long[] sched(Path file) throws IOException {
        long[] counts = new long[3];
        if (!Files.exists(file)) {
            return counts;
        }
        for (String line : Files.readAllLines(file)) {
            int kind = line.startsWith("se.nr_migrations") ? 0 : line.startsWith("nr_voluntary_switches") ? 1
                    : line.startsWith("nr_involuntary_switches") ? 2 : -1;
            if (kind >= 0) {
                counts[kind] = Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
            }
        }
        return counts;
    }

    /** The {@link #INTERRUPTS} counts, every CPU's summed (zeros where the kernel has no such file). */
    private static long[] interrupts() {
        long[] counts = new long[INTERRUPTS.size()];
        try {
            for (String line : Files.readAllLines(Path.of("/proc/interrupts"))) {
                String[] f = line.trim().split("\\s+");
                int kind = INTERRUPTS.indexOf(f[0]);
                for (int i = 1; kind >= 0 && i < f.length && f[i].chars().allMatch(Character::isDigit); i++) {
                    counts[kind] += Long.parseLong(f[i]);
                }
            }
        } catch (IOException | RuntimeException unreadable) {
            // zeros
        }
        return counts;
    }

    /** The machine's CPU ticks: user, nice, system, idle, iowait, irq, softirq, steal (zeros if unreadable). */
    private static long[] cpuTicks() {
        long[] ticks = new long[8];
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            for (int i = 0; i < ticks.length; i++) {
                ticks[i] = Long.parseLong(f[i + 1]);
            }
        } catch (IOException | RuntimeException unreadable) {
            // zeros
        }
        return ticks;
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

    /** Copies 256 MiB, 256 KiB at a time, between buffers of 8 MiB: memory's speed. */
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
}
