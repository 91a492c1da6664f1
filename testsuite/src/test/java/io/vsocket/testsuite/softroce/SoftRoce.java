package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_GID_TYPE_ROCE_V2;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the SoftRoCE tests share: the device the VM brings up ({@code rxe0} on a dummy netdev with
 * a link-local IPv4 address), the GID to address it by, and a bounded completion poll.
 * Inside the VM ({@code -Dvsocket.softroce.required=true}) a missing device fails the tests;
 * elsewhere they are skipped.
 */
public final class SoftRoce {
    static final String DEVICE = System.getProperty("vsocket.softroce.device", "rxe0");
    static final int PORT = 1;
    /** TCG emulation is slow: generous, but bounded, so nothing can hang. */
    static final long POLL_TIMEOUT_NANOS = 20_000_000_000L;

    private SoftRoce() {
    }

    static void requireDevice() {
        boolean required = Boolean.getBoolean("vsocket.softroce.required");
        if (required) {
            assertTrue(Verbs.isAvailable(), () -> "RDMA verbs unavailable in the VM: " + Verbs.unavailabilityCause());
        } else {
            assumeTrue(Verbs.isAvailable(), "no RDMA device here; the SoftRoCE suite runs in the VM");
        }
    }

    static VerbsDevice open() throws IOException {
        requireDevice();
        return Verbs.openDevice(DEVICE);
    }

    /** The RoCE v2 GID that stands for the netdev's IPv4 address. */
    static GidEntry ipv4Gid(VerbsDevice device) throws VerbsException {
        List<GidEntry> table = device.gidTable(PORT);
        return table.stream()
                .filter(g -> g.type() == IBV_GID_TYPE_ROCE_V2 && g.gid().isIpv4Mapped())
                .findFirst()
                .orElseThrow(() -> new AssertionError("no RoCE v2 IPv4 GID on " + DEVICE + ": " + table));
    }

    /**
     * Polls {@code cq} until one completion arrives, or fails after {@link #POLL_TIMEOUT_NANOS}. The
     * completion is at index 0 of {@code batch}; more than one at once fails the test, so a test
     * sees exactly the completions it expects.
     */
    static void awaitOne(CompletionQueue cq, CompletionBatch batch) throws VerbsException {
        long deadline = System.nanoTime() + POLL_TIMEOUT_NANOS;
        int n;
        while ((n = cq.poll(batch)) == 0) {
            if (System.nanoTime() > deadline) {
                fail("no completion within " + POLL_TIMEOUT_NANOS / 1_000_000 + " ms on " + cq);
            }
            Thread.onSpinWait();
        }
        assertEquals(1, n, "completions polled at once");
    }

    /** Asserts that nothing more completes on {@code cq} for a while. */
    static void assertQuiet(CompletionQueue cq, CompletionBatch batch) throws Exception {
        long until = System.nanoTime() + 200_000_000L;
        while (System.nanoTime() < until) {
            assertEquals(0, cq.poll(batch), "unexpected completion");
            Thread.sleep(10);
        }
    }

    /** The number of file descriptors this process has open. */
    static long openFileDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /** What each open descriptor of this process refers to ({@code /proc/self/fd}'s link targets). */
    public static List<String> descriptorTargets() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    return null; // the listing's own descriptor, or one closed meanwhile
                }
            }).filter(Objects::nonNull).sorted().toList();
        }
    }

    /**
     * The descriptors open now that were not open in {@code before} (by target, counted), once that
     * is nothing or 10 s have passed. Descriptors other threads closed meanwhile (an earlier test's
     * connections finishing their close) do not count against the test: only what it left open does.
     */
    public static List<String> descriptorsOpenedSince(List<String> before) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            List<String> extra = new ArrayList<>(descriptorTargets());
            before.forEach(extra::remove);
            if (extra.isEmpty() || System.nanoTime() > deadline) {
                return extra;
            }
            Thread.sleep(100);
        }
    }
}
