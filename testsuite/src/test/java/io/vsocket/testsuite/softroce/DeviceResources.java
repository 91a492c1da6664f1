package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.VerbsResource;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RDMA device's resource counts, as {@code rdma resource show} gives them for the whole device
 * (qp, mr, cq, pd, srq, ...): what leak checks compare before and after.
 */
public final class DeviceResources {
    private DeviceResources() {
    }

    /** The counts now. */
    public static Map<String, Integer> now() throws Exception {
        Process p = new ProcessBuilder("rdma", "resource", "show").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "rdma resource show: " + out);
        Map<String, Integer> counts = new TreeMap<>();
        Matcher m = Pattern.compile("\\b([a-z_]+) (\\d+)").matcher(out.substring(out.indexOf(':', out.indexOf(':') + 1) + 1));
        while (m.find()) {
            counts.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        assertTrue(counts.containsKey("qp"), "no qp count in: " + out);
        return counts;
    }

    /**
     * The counts once nothing of an earlier test is still going away, for a baseline: no queue pair
     * left in this process (a closed rdma link lingers with its queue pair and regions until its last
     * request completes, at most 10 s: one full run counted a queue pair and two regions fewer after a
     * test than before it), then two looks half a second apart agreeing (a region the device let go of
     * late). At most 15 s; the counts as they are then. For a test that holds no queue pair of its
     * own when it takes the baseline (else it waits the whole 15 s).
     */
    public static Map<String, Integer> quiet() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (VerbsResource.openCount(QueuePair.class) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        return untilTwoLooksAgree(DeviceResources::now, deadline);
    }

    /**
     * What {@code look} gives once two looks half a second apart agree (releases still under way
     * would leave a baseline off by what they have not done yet), or its last look at {@code deadline}
     * ({@link System#nanoTime()}).
     */
    public static Map<String, Integer> untilTwoLooksAgree(Callable<Map<String, Integer>> look, long deadline)
            throws Exception {
        Map<String, Integer> counts = look.call();
        while (System.nanoTime() < deadline) {
            Thread.sleep(500);
            Map<String, Integer> again = look.call();
            if (again.equals(counts)) {
                break;
            }
            counts = again;
        }
        return counts;
    }

    /** The counts once they equal {@code expected}, or after 10 s (releases the kernel finishes late). */
    public static Map<String, Integer> settled(Map<String, Integer> expected) throws Exception {
        Map<String, Integer> now = now();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!now.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            now = now();
        }
        return now;
    }
}
