package io.vsocket.verbs;

import io.vsocket.verbs.tools.DeviceInfo;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** Availability in the style of Netty's {@code Epoll}: a clear cause, and nothing else breaks. */
class VerbsAvailabilityTest {

    @Test
    void availabilityAgreesWithTheDevicesPresent() throws Exception {
        List<String> devices = Verbs.deviceNames();
        if (devices.isEmpty()) {
            assertFalse(Verbs.isAvailable());
            assertNotNull(Verbs.unavailabilityCause());
            assertTrue(Verbs.unavailabilityCause().getMessage().contains("no RDMA device"),
                    Verbs.unavailabilityCause().getMessage());
        } else {
            assertTrue(Verbs.isAvailable(), () -> "devices " + devices + " but unavailable: " + Verbs.unavailabilityCause());
            assertNull(Verbs.unavailabilityCause());
        }
    }

    @Test
    void aMissingLibraryIsReportedAsTheCause() {
        Throwable cause = Verbs.probe("libibverbs-vsocket-test-missing.so.1");
        assertNotNull(cause);
        assertTrue(cause.getMessage().contains("libibverbs-vsocket-test-missing.so.1 could not be loaded"), cause.getMessage());
        assertTrue(cause.getMessage().contains("libibverbs1"), "names the package to install: " + cause.getMessage());
    }

    @Test
    void openingADeviceWhenUnavailableFailsWithTheCause() {
        assumeFalse(Verbs.isAvailable(), "this machine has an RDMA device");
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class, () -> Verbs.openDevice("rxe0"));
        assertTrue(e.getMessage().startsWith("RDMA verbs are unavailable: "), e.getMessage());
        assertEquals(Verbs.unavailabilityCause(), e.getCause());
        assertThrows(UnsatisfiedLinkError.class, Verbs::ensureAvailability);
    }

    @Test
    void deviceInfoSaysWhyWhenThereIsNoDevice() throws Exception {
        assumeFalse(Verbs.isAvailable(), "this machine has an RDMA device");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status = DeviceInfo.run(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(2, status, out);
        assertTrue(out.startsWith("RDMA verbs unavailable: no RDMA device"), out);
    }
}
