package io.vsocket.testsuite.link;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.AbstractScheduledEventExecutor;
import io.netty.util.concurrent.EventExecutor;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What this process holds that a connection could leak, read from {@code /proc/self}: descriptors,
 * vsocket memfds (descriptors and mappings), shared mappings, memory; and the CPU its event loops
 * use. For the leak, churn and scale tests.
 */
final class ProcessResources {
    private static final String MEMFD = "/memfd:vsocket";

    private ProcessResources() {
    }

    /**
     * Open descriptors, vsocket memfd descriptors, mappings of vsocket memfds, and shared mappings of
     * any file (the memfd ones among them) of this process.
     */
    record Snapshot(long descriptors, long memfdDescriptors, long memfdMappings, long sharedMappings) {
        /** vsocket memfd descriptors plus their mappings. */
        long memfds() {
            return memfdDescriptors + memfdMappings;
        }

        static Snapshot take() throws IOException {
            try {
                // A peer's descriptors this process refused may still be closing on their own thread: counted after.
                io.vsocket.unix.PeerDescriptors.settle(5000);
                // And closed shm links' memory may still be unmapping on its own thread (see SharedArenaCloser).
                io.vsocket.link.SharedArenaCloser.settle(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            long fds;
            long memfdFds = 0;
            try (Stream<Path> list = Files.list(Path.of("/proc/self/fd"))) {
                List<Path> entries = list.toList();
                fds = entries.size();
                for (Path fd : entries) {
                    try {
                        if (Files.readSymbolicLink(fd).toString().startsWith(MEMFD)) {
                            memfdFds++;
                        }
                    } catch (IOException e) {
                        // the descriptor of the listing itself, gone by now
                    }
                }
            }
            long memfdMaps = 0;
            long shared = 0;
            try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
                for (String line : (Iterable<String>) maps::iterator) {
                    // address perms offset dev inode path: perms is rwxs or rwxp
                    int perms = line.indexOf(' ') + 1;
                    if (perms > 0 && perms + 3 < line.length() && line.charAt(perms + 3) == 's') {
                        shared++;
                    }
                    if (line.contains(MEMFD)) {
                        memfdMaps++;
                    }
                }
            }
            return new Snapshot(fds, memfdFds, memfdMaps, shared);
        }
    }

    /** Every open descriptor as {@code number->target}. */
    static Set<String> descriptorTargets() throws IOException {
        Set<String> targets = new TreeSet<>();
        try (Stream<Path> list = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : list.toList()) {
                try {
                    targets.add(fd.getFileName() + "->" + Files.readSymbolicLink(fd));
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return targets;
    }

    /** Descriptors opened since {@code before} was listed (for failure messages). */
    static String newDescriptors(Set<String> before) {
        try {
            Set<String> now = descriptorTargets();
            now.removeAll(before);
            return now.size() > 40 ? now.size() + " descriptors, first: " + List.copyOf(now).subList(0, 40) : now.toString();
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** The vsocket memfd lines of {@code /proc/self/maps} (for failure messages). */
    static String memfdLines() {
        try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
            List<String> lines = maps.filter(line -> line.contains(MEMFD)).toList();
            return String.join("\n", lines.size() > 40 ? lines.subList(0, 40) : lines);
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** The shared-mapping lines of {@code /proc/self/maps} (to say which one came or went, in failure messages). */
    static List<String> sharedMappingLines() {
        try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
            return maps.filter(line -> {
                int perms = line.indexOf(' ') + 1;
                return perms > 0 && perms + 3 < line.length() && line.charAt(perms + 3) == 's';
            }).toList();
        } catch (IOException e) {
            return List.of(e.toString());
        }
    }

    /** The lines of {@code after} not in {@code before}, and those gone, for a failure message. */
    static String mappingChanges(List<String> before, List<String> after) {
        List<String> came = after.stream().filter(l -> !before.contains(l)).toList();
        List<String> went = before.stream().filter(l -> !after.contains(l)).toList();
        return "came: " + came + "; went: " + went;
    }

    /** Waits until two snapshots 100 ms apart agree (closes still in flight have landed), at most 5 s. */
    static Snapshot awaitStable() throws Exception {
        Snapshot last = Snapshot.take();
        for (int i = 0; i < 50; i++) {
            Thread.sleep(100);
            Snapshot now = Snapshot.take();
            if (now.equals(last)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** Closing is asynchronous on the server side: waits (boundedly) for the counts to come back to {@code target}. */
    static Snapshot awaitSettled(Snapshot target, long timeoutMillis) throws Exception {
        Snapshot now = Snapshot.take();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (!now.equals(target) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            now = Snapshot.take();
        }
        return now;
    }

    /** The fields of {@code /proc/self/smaps_rollup} (Rss, Pss, Pss_Shmem, ...), in KiB. */
    static Map<String, Long> memoryKib() throws IOException {
        Map<String, Long> fields = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps_rollup"))) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.endsWith(" kB")) {
                fields.put(line.substring(0, colon), Long.parseLong(line.substring(colon + 1, line.length() - 3).trim()));
            }
        }
        return fields;
    }

    /** This process's soft limit on open descriptors ({@code Max open files} in {@code /proc/self/limits}). */
    static long descriptorLimit() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
            if (line.startsWith("Max open files")) {
                String[] words = line.substring("Max open files".length()).trim().split("\\s+");
                return words[0].equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(words[0]);
            }
        }
        throw new IOException("no 'Max open files' in /proc/self/limits");
    }

    /**
     * Raises this process's descriptor limit (soft and hard) to {@code wanted} with
     * {@code setrlimit(RLIMIT_NOFILE)}, if it is lower; raising the hard limit takes privilege
     * ({@code CAP_SYS_RESOURCE}), which a container may withhold even from root. Returns the soft limit
     * in force afterwards, whether or not the call succeeded.
     */
    static long raiseDescriptorLimit(long wanted) throws Throwable {
        if (descriptorLimit() >= wanted) {
            return descriptorLimit();
        }
        java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
        java.lang.invoke.MethodHandle setrlimit = linker.downcallHandle(
                linker.defaultLookup().find("setrlimit").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT,
                        java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.ADDRESS));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }, RLIMIT_NOFILE = 7 on Linux
            java.lang.foreign.MemorySegment limit = arena.allocate(16);
            limit.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, wanted);
            limit.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8, wanted);
            int ignored = (int) setrlimit.invokeExact(7, limit);
        }
        return descriptorLimit();
    }

    /** The threads of {@code group}'s loops, by id (each loop is asked on itself). */
    static List<Long> loopThreadIds(EventLoopGroup group) throws Exception {
        List<Long> ids = new ArrayList<>();
        for (EventExecutor loop : group) {
            ids.add(loop.submit(() -> Thread.currentThread().threadId()).get(5, TimeUnit.SECONDS));
        }
        return ids;
    }

    /**
     * The timers pending on {@code group}'s loops (each loop counts its own scheduled-task queue,
     * which Netty keeps to itself: by reflection).
     */
    static int scheduledTasks(EventLoopGroup group) throws Exception {
        java.lang.reflect.Field field = AbstractScheduledEventExecutor.class.getDeclaredField("scheduledTaskQueue");
        field.setAccessible(true);
        int total = 0;
        for (EventExecutor loop : group) {
            // Read on the loop, so it may have to wait for the loop: in the VM, right after thousands of
            // rdma closes, a loop can be busy for seconds destroying the links whose ends came back.
            total += loop.submit(() -> {
                java.util.Collection<?> queue = (java.util.Collection<?>) field.get(loop);
                return queue == null ? 0 : queue.size();
            }).get(60, TimeUnit.SECONDS);
        }
        return total;
    }

    /** What the loops of {@code group} have scheduled, as each task describes itself (for failure messages). */
    static List<String> scheduledTaskNames(EventLoopGroup group) throws Exception {
        java.lang.reflect.Field field = AbstractScheduledEventExecutor.class.getDeclaredField("scheduledTaskQueue");
        field.setAccessible(true);
        List<String> names = new java.util.ArrayList<>();
        for (EventExecutor loop : group) {
            names.addAll(loop.submit(() -> {
                java.util.Collection<?> queue = (java.util.Collection<?>) field.get(loop);
                return queue == null ? List.<String>of() : queue.stream().map(String::valueOf).toList();
            }).get(5, TimeUnit.SECONDS));
        }
        return names;
    }

    /** The CPU time, in nanoseconds, the threads {@code ids} use while the caller sleeps {@code millis}. */
    /**
     * The threads' CPU over {@code millis} of rest, looked at up to {@code looks} times in a row until
     * one look is under {@code limitNanos}: the lowest look. Work that was still ending when the rest
     * began (a closed rdma link's last completions, in the SoftRoCE VM's slow JVM) fades within a look;
     * a loop that does not rest is over the limit in every one.
     */
    static long cpuNanosAtRest(List<Long> ids, long millis, long limitNanos, int looks) throws InterruptedException {
        long lowest = Long.MAX_VALUE;
        for (int i = 0; i < looks && lowest >= limitNanos; i++) {
            lowest = Math.min(lowest, cpuNanosOver(ids, millis));
        }
        return lowest;
    }

    static long cpuNanosOver(List<Long> ids, long millis) throws InterruptedException {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long before = 0;
        for (long id : ids) {
            before += threads.getThreadCpuTime(id);
        }
        Thread.sleep(millis);
        long after = 0;
        for (long id : ids) {
            after += threads.getThreadCpuTime(id);
        }
        return after - before;
    }
}
