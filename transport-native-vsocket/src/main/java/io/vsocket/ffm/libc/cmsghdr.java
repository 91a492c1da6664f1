package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct cmsghdr}: the header of one control message in a {@link msghdr}'s control buffer.
 * The C struct ends in a flexible array member that this layout leaves out; the payload starts at
 * {@link LibC#CMSG_LEN CMSG_LEN(0)} from the header, and the next header at
 * {@link LibC#CMSG_ALIGN CMSG_ALIGN(cmsg_len)}. {@code cmsg_len} is a {@code size_t} on x86_64
 * and counts the header plus the unpadded payload.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class cmsghdr {
    private cmsghdr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("cmsg_len"),
            JAVA_INT.withName("cmsg_level"),
            JAVA_INT.withName("cmsg_type")).withName("cmsghdr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long cmsg_len$OFFSET = LAYOUT.byteOffset(groupElement("cmsg_len"));

    public static long cmsg_len(MemorySegment struct) {
        return struct.get(JAVA_LONG, cmsg_len$OFFSET);
    }

    public static void cmsg_len(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, cmsg_len$OFFSET, value);
    }

    public static final long cmsg_level$OFFSET = LAYOUT.byteOffset(groupElement("cmsg_level"));

    public static int cmsg_level(MemorySegment struct) {
        return struct.get(JAVA_INT, cmsg_level$OFFSET);
    }

    public static void cmsg_level(MemorySegment struct, int value) {
        struct.set(JAVA_INT, cmsg_level$OFFSET, value);
    }

    public static final long cmsg_type$OFFSET = LAYOUT.byteOffset(groupElement("cmsg_type"));

    public static int cmsg_type(MemorySegment struct) {
        return struct.get(JAVA_INT, cmsg_type$OFFSET);
    }

    public static void cmsg_type(MemorySegment struct, int value) {
        struct.set(JAVA_INT, cmsg_type$OFFSET, value);
    }
}
