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
 * resolution does the same lookup). Looked up once per address per process.
 */
public record RdmaPort(String device, int port, GidEntry gid) {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaPort.class);
    private static final ConcurrentHashMap<InetAddress, Optional<RdmaPort>> BY_ADDRESS = new ConcurrentHashMap<>();

    /** The port that has {@code address} as a RoCE v2 GID, or empty (no verbs, no device, not an RDMA netdev). */
    public static Optional<RdmaPort> of(InetAddress address) {
        return BY_ADDRESS.computeIfAbsent(address, RdmaPort::find);
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
