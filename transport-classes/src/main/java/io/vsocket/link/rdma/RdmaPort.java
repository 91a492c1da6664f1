package io.vsocket.link.rdma;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.PortAttributes;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;

import java.io.IOException;
import java.net.InetAddress;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_GID_TYPE_ROCE_V2;

/**
 * The RDMA device port that serves an IP address: the one whose RoCE v2 GID table holds that
 * address, as the kernel puts one entry per IP address of the device's netdev there. This is how
 * a TCP connection's local address picks the device for its rdma link (librdmacm's address
 * resolution does the same lookup). Looked up once per address per process while a device serves it;
 * an address no device serves is looked up again after a few seconds.
 */
public record RdmaPort(String device, int port, GidEntry gid) {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaPort.class);
    /**
     * An address found on no device is looked up again after this long (a device may have come
     * since); {@link RdmaLoop} tries a port it could not open again after as long.
     */
    static final long LOOK_AGAIN_NANOS = 5_000_000_000L;
    private static final ConcurrentHashMap<InetAddress, Lookup> BY_ADDRESS = new ConcurrentHashMap<>();

    private record Lookup(Optional<RdmaPort> port, long atNanos) {
    }

    /** The port that has {@code address} as a RoCE v2 GID, or empty (no verbs, no device, not an RDMA netdev). */
    public static Optional<RdmaPort> of(InetAddress address) {
        Lookup lookup = BY_ADDRESS.get(address);
        long now = System.nanoTime();
        if (lookup == null || lookup.port.isEmpty() && now - lookup.atNanos > LOOK_AGAIN_NANOS) {
            lookup = new Lookup(find(address), now);
            BY_ADDRESS.put(address, lookup);
        }
        return lookup.port;
    }

    /**
     * The device named {@code device} is going: the addresses it served are looked up again (another
     * device, the same one added again, or none).
     */
    static void forget(String device) {
        BY_ADDRESS.values().removeIf(lookup -> lookup.port.isPresent() && lookup.port.get().device().equals(device));
    }

    /** Why {@link #of} finds nothing anywhere, or null when verbs are there. */
    public static String unavailability() {
        return Verbs.isAvailable() ? null : "no RDMA verbs library here (" + Verbs.unavailabilityCause() + ")";
    }

    private static Optional<RdmaPort> find(InetAddress address) {
        if (!Verbs.isAvailable() || address.isLoopbackAddress() || address.isAnyLocalAddress()) {
            return Optional.empty();
        }
        Gid wanted = Gid.of(address);
        try {
            for (String name : Verbs.deviceNames()) {
                try (VerbsDevice device = Verbs.openDevice(name)) {
                    int ports = device.queryDevice().physicalPortCount();
                    for (int port = 1; port <= ports; port++) {
                        PortAttributes attributes = device.queryPort(port);
                        if (!attributes.isActive()) {
                            continue;
                        }
                        for (GidEntry entry : device.gidTable(port)) {
                            if (entry.type() == IBV_GID_TYPE_ROCE_V2 && entry.gid().equals(wanted)) {
                                return Optional.of(new RdmaPort(name, port, entry));
                            }
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    logger.debug("skipping RDMA device {}: {}", name, e.toString());
                }
            }
        } catch (IOException | RuntimeException e) {
            logger.debug("cannot list RDMA devices", e);
        }
        return Optional.empty();
    }
}
