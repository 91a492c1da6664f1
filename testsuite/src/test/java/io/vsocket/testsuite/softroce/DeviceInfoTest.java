package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.PortAttributes;
import io.vsocket.verbs.PortState;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.tools.DeviceInfo;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device and port queries against rxe0, and the device-info command built on them. */
@Tag("softroce")
class DeviceInfoTest {

    @Test
    void rxe0IsListedWithAnActiveEthernetPort() throws Exception {
        SoftRoce.requireDevice();
        assertTrue(Verbs.deviceNames().contains(SoftRoce.DEVICE), Verbs.deviceNames().toString());
        try (VerbsDevice device = Verbs.openDevice(SoftRoce.DEVICE)) {
            assertEquals(1, device.queryDevice().physicalPortCount());
            PortAttributes port = device.queryPort(SoftRoce.PORT);
            assertEquals(PortState.ACTIVE, port.state());
            assertEquals("Ethernet", port.linkLayerName());
            assertEquals(4096, port.activeMtu().bytes(), "the VM's netdev MTU is 9000");
            GidEntry gid = SoftRoce.ipv4Gid(device);
            assertEquals(InetAddress.getByName("169.254.77.1"), gid.gid().toInetAddress());
        }
    }

    @Test
    void theDeviceInfoCommandPrintsDevicesPortsAndGids() throws Exception {
        SoftRoce.requireDevice();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status = DeviceInfo.run(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(out);
        assertEquals(0, status, out);
        assertTrue(out.contains("hca_id: " + SoftRoce.DEVICE), out);
        assertTrue(out.contains("state:\t\t\tPORT_ACTIVE (4)"), out);
        assertTrue(out.contains("RoCE v2  (169.254.77.1)"), out);
    }
}
