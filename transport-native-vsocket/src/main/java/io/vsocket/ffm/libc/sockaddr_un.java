package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct sockaddr_un}. For a Linux abstract-namespace address {@code sun_path} starts with a
 * NUL byte, the name follows without a terminator, and the address length passed to
 * {@code bind}/{@code connect} must be exactly {@code sun_path$OFFSET + 1 + name bytes}: the kernel
 * takes every byte up to that length as part of the name.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class sockaddr_un {
    private sockaddr_un() {
    }

    /** {@code sizeof(sun_path)}. */
    public static final int SUN_PATH_SIZE = 108;

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sun_family"),
            MemoryLayout.sequenceLayout(SUN_PATH_SIZE, JAVA_BYTE).withName("sun_path")).withName("sockaddr_un");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long sun_family$OFFSET = LAYOUT.byteOffset(groupElement("sun_family"));

    public static short sun_family(MemorySegment struct) {
        return struct.get(JAVA_SHORT, sun_family$OFFSET);
    }

    public static void sun_family(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sun_family$OFFSET, value);
    }

    public static final long sun_path$OFFSET = LAYOUT.byteOffset(groupElement("sun_path"));
    /** The {@code sun_path} member's layout, selected once (a view per call would select it again). */
    public static final MemoryLayout sun_path$LAYOUT = LAYOUT.select(groupElement("sun_path"));

    /** A view of the {@code sun_path} member. */
    public static MemorySegment sun_path(MemorySegment struct) {
        return struct.asSlice(sun_path$OFFSET, sun_path$LAYOUT);
    }
}
