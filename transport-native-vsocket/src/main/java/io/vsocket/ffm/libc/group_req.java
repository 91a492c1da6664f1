package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code struct group_req} (RFC 3678, {@code MCAST_JOIN_GROUP}/{@code MCAST_LEAVE_GROUP}): an
 * interface index and a group address in a {@code struct sockaddr_storage} (128 bytes, 8-aligned),
 * which holds a {@link sockaddr_in} or a {@link sockaddr_in6}. The protocol-independent form works
 * for both families on either level, so one code path serves IPv4 and IPv6 groups.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class group_req {
    private group_req() {
    }

    /** {@code sizeof(struct sockaddr_storage)}. */
    public static final int SOCKADDR_STORAGE = 128;

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("gr_interface"),
            MemoryLayout.paddingLayout(4),
            MemoryLayout.sequenceLayout(SOCKADDR_STORAGE, JAVA_BYTE).withName("gr_group")).withName("group_req");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long gr_interface$OFFSET = LAYOUT.byteOffset(groupElement("gr_interface"));

    public static void gr_interface(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gr_interface$OFFSET, value);
    }

    public static final long gr_group$OFFSET = LAYOUT.byteOffset(groupElement("gr_group"));

    /** A view of the {@code gr_group} member. */
    public static MemorySegment gr_group(MemorySegment struct) {
        return struct.asSlice(gr_group$OFFSET, SOCKADDR_STORAGE);
    }
}
