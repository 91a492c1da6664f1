package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * {@code struct sockaddr_in}; port and address in network byte order. vsocket's sockets are IPv6
 * (IPv4 addresses v4-mapped); this one is needed where the kernel wants an IPv4 group as such (a
 * {@link group_req} for an IPv4 multicast group).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class sockaddr_in {
    private sockaddr_in() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sin_family"),
            JAVA_SHORT.withName("sin_port"),
            JAVA_INT.withName("sin_addr"),
            MemoryLayout.paddingLayout(8)).withName("sockaddr_in");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static final long sin_family$OFFSET = LAYOUT.byteOffset(groupElement("sin_family"));

    public static void sin_family(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sin_family$OFFSET, value);
    }

    public static final long sin_port$OFFSET = LAYOUT.byteOffset(groupElement("sin_port"));

    public static void sin_port(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sin_port$OFFSET, value);
    }

    public static final long sin_addr$OFFSET = LAYOUT.byteOffset(groupElement("sin_addr"));

    /** Sets the address from its four bytes, in network order as given. */
    public static void sin_addr(MemorySegment struct, byte[] address) {
        MemorySegment.copy(address, 0, struct, JAVA_BYTE, sin_addr$OFFSET, 4);
    }
}
