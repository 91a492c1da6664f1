package io.vsocket.link.rdma;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Notices that an open RDMA device is being removed ({@code rdma link delete}, a driver unloaded, an
 * adapter hot-unplugged), so that the process lets go of it. The kernel removes the device's verbs
 * node ({@code /sys/class/infiniband_verbs/uverbsN}) first, then, for drivers that cannot take
 * resources away from a process (rxe among them), waits until every process has closed the device:
 * a process that keeps it open holds the removal up for ever, and its queue pairs go on as if nothing
 * happened. Drivers that can take them away make every later verbs call fail instead, which the
 * links see anyway; the node goes in both cases, so watching it covers both.
 *
 * <p>One daemon thread for the process, looking every {@link #PERIOD_MILLIS} ms at the nodes of the
 * devices open, running while any is; a removed device is marked and its users are woken (each
 * loop lets go on its own thread, see {@link RdmaCompletions}).
 */
final class DeviceWatch {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(DeviceWatch.class);
    static final long PERIOD_MILLIS = Long.getLong("io.vsocket.rdmaDeviceWatchMillis", 500L);
    private static final Path VERBS_NODES = Path.of("/sys/class/infiniband_verbs");

    private static final List<RdmaDevice> watched = new ArrayList<>();
    private static Thread thread;

    private DeviceWatch() {
    }

    /**
     * The verbs node of the device named {@code name} (its {@code ibdev} file names it), or null when
     * none is found (no sysfs here): such a device is not watched.
     */
    static Path nodeOf(String name) {
        if (!Files.isDirectory(VERBS_NODES)) {
            return null;
        }
        try (DirectoryStream<Path> nodes = Files.newDirectoryStream(VERBS_NODES)) {
            for (Path node : nodes) {
                if (name.equals(ibdev(node))) {
                    return node;
                }
            }
        } catch (IOException e) {
            logger.debug("cannot list {}", VERBS_NODES, e);
        }
        return null;
    }

    /** Whether {@code node} still stands for the device named {@code name} (a new device may reuse the node's number). */
    static boolean present(Path node, String name) {
        return name.equals(ibdev(node));
    }

    private static String ibdev(Path node) {
        try {
            return Files.readString(node.resolve("ibdev"), StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            return null;
        }
    }

    /** Watches {@code device} from now until {@link #unwatch}. */
    static synchronized void watch(RdmaDevice device) {
        if (device.node() == null || PERIOD_MILLIS <= 0) {
            return;
        }
        watched.add(device);
        if (thread == null) {
            thread = new Thread(DeviceWatch::run, "vsocket-rdma-device-watch");
            thread.setDaemon(true);
            thread.start();
        }
    }

    static synchronized void unwatch(RdmaDevice device) {
        watched.remove(device);
    }

    private static void run() {
        while (true) {
            RdmaDevice[] devices;
            synchronized (DeviceWatch.class) {
                if (watched.isEmpty()) {
                    thread = null;
                    return;
                }
                devices = watched.toArray(new RdmaDevice[0]);
            }
            for (RdmaDevice device : devices) {
                if (!present(device.node(), device.name())) {
                    unwatch(device);
                    device.removed();
                }
            }
            try {
                Thread.sleep(PERIOD_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
