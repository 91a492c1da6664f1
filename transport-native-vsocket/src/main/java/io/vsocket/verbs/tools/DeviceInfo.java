package io.vsocket.verbs.tools;

import io.vsocket.verbs.DeviceAttributes;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.PortAttributes;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;

import java.io.PrintStream;
import java.util.List;

/**
 * {@code vsocket-devinfo}: lists the RDMA devices, their ports (state, MTU, link layer) and GID
 * tables through vsocket's own bindings, like {@code ibv_devinfo -v} in brief. Exits 0 when at least
 * one device is listed, 2 when verbs are unavailable (and says why).
 */
public final class DeviceInfo {
    private DeviceInfo() {
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(System.out));
    }

    /** Prints the listing to {@code out}; returns the exit status {@link #main} uses. */
    public static int run(PrintStream out) throws Exception {
        if (!Verbs.isAvailable()) {
            out.println("RDMA verbs unavailable: " + Verbs.unavailabilityCause().getMessage());
            return 2;
        }
        List<String> names = Verbs.deviceNames();
        for (String name : names) {
            try (VerbsDevice device = Verbs.openDevice(name)) {
                print(device, out);
            }
        }
        return 0;
    }

    private static void print(VerbsDevice device, PrintStream out) throws Exception {
        DeviceAttributes a = device.queryDevice();
        out.printf("hca_id: %s%n", device.name());
        out.printf("\tnode_guid:\t\t%s%n", guid(a.nodeGuid()));
        out.printf("\tfw_ver:\t\t\t%s%n", a.firmwareVersion().isEmpty() ? "-" : a.firmwareVersion());
        out.printf("\tvendor_id:\t\t0x%04x%n", a.vendorId());
        out.printf("\tphys_port_cnt:\t\t%d%n", a.physicalPortCount());
        out.printf("\tmax_qp:\t\t\t%d\tmax_qp_wr: %d\tmax_cqe: %d\tmax_mr: %d\tmax_srq: %d%n",
                a.maxQp(), a.maxQpWr(), a.maxCqe(), a.maxMr(), a.maxSrq());
        for (int port = 1; port <= a.physicalPortCount(); port++) {
            PortAttributes p = device.queryPort(port);
            out.printf("\t\tport:\t%d%n", port);
            out.printf("\t\t\tstate:\t\t\t%s (%d)%n", p.state(), p.state().code());
            out.printf("\t\t\tmax_mtu:\t\t%s (%d)%n", p.maxMtu(), p.maxMtu().code());
            out.printf("\t\t\tactive_mtu:\t\t%s (%d)%n", p.activeMtu(), p.activeMtu().code());
            out.printf("\t\t\tlink_layer:\t\t%s%n", p.linkLayerName());
            out.printf("\t\t\tgid_tbl_len:\t\t%d%n", p.gidTableLength());
            for (GidEntry g : device.gidTable(port)) {
                out.printf("\t\t\tGID[%3d]:\t\t%s, %s  (%s)%n", g.index(), g.gid(), g.typeName(),
                        g.gid().toInetAddress().getHostAddress());
            }
        }
    }

    private static String guid(long guid) {
        String hex = String.format("%016x", guid);
        return hex.substring(0, 4) + ":" + hex.substring(4, 8) + ":" + hex.substring(8, 12) + ":" + hex.substring(12);
    }
}
