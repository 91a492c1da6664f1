package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct rlimit}, for {@code getrlimit}: a resource's soft and hard limit ({@code rlim_t}, unsigned;
 * {@code RLIM_INFINITY} reads as -1 here).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class rlimit {
    private rlimit() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("rlim_cur"),
            JAVA_LONG.withName("rlim_max")).withName("rlimit");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long rlim_cur$OFFSET = LAYOUT.byteOffset(groupElement("rlim_cur"));

    public static long rlim_cur(MemorySegment struct) {
        return struct.get(JAVA_LONG, rlim_cur$OFFSET);
    }

    public static final long rlim_max$OFFSET = LAYOUT.byteOffset(groupElement("rlim_max"));

    public static long rlim_max(MemorySegment struct) {
        return struct.get(JAVA_LONG, rlim_max$OFFSET);
    }
}
