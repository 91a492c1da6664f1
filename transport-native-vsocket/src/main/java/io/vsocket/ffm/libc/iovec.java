package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct iovec}: one buffer of a gathering write.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class iovec {
    private iovec() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"),
            JAVA_LONG.withName("iov_len")).withName("iovec");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long iov_base$OFFSET = LAYOUT.byteOffset(groupElement("iov_base"));

    public static MemorySegment iov_base(MemorySegment struct) {
        return struct.get(ADDRESS, iov_base$OFFSET);
    }

    public static void iov_base(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, iov_base$OFFSET, value);
    }

    public static final long iov_len$OFFSET = LAYOUT.byteOffset(groupElement("iov_len"));

    public static long iov_len(MemorySegment struct) {
        return struct.get(JAVA_LONG, iov_len$OFFSET);
    }

    public static void iov_len(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, iov_len$OFFSET, value);
    }
}
