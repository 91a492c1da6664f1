package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct linger}, for {@code SO_LINGER}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class linger {
    private linger() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("l_onoff"),
            JAVA_INT.withName("l_linger")).withName("linger");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long l_onoff$OFFSET = LAYOUT.byteOffset(groupElement("l_onoff"));

    public static int l_onoff(MemorySegment struct) {
        return struct.get(JAVA_INT, l_onoff$OFFSET);
    }

    public static void l_onoff(MemorySegment struct, int value) {
        struct.set(JAVA_INT, l_onoff$OFFSET, value);
    }

    public static final long l_linger$OFFSET = LAYOUT.byteOffset(groupElement("l_linger"));

    public static int l_linger(MemorySegment struct) {
        return struct.get(JAVA_INT, l_linger$OFFSET);
    }

    public static void l_linger(MemorySegment struct, int value) {
        struct.set(JAVA_INT, l_linger$OFFSET, value);
    }
}
