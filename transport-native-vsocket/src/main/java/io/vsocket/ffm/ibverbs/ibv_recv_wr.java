package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_recv_wr}: a receive work request.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_recv_wr {
    private ibv_recv_wr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("wr_id"),
            ADDRESS.withName("next"),
            ADDRESS.withName("sg_list"),
            JAVA_INT.withName("num_sge"),
            MemoryLayout.paddingLayout(4)).withName("ibv_recv_wr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long wr_id$OFFSET = LAYOUT.byteOffset(groupElement("wr_id"));

    public static long wr_id(MemorySegment struct) {
        return struct.get(JAVA_LONG, wr_id$OFFSET);
    }

    public static void wr_id(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, wr_id$OFFSET, value);
    }

    public static final long next$OFFSET = LAYOUT.byteOffset(groupElement("next"));

    public static MemorySegment next(MemorySegment struct) {
        return struct.get(ADDRESS, next$OFFSET);
    }

    public static void next(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, next$OFFSET, value);
    }

    public static final long sg_list$OFFSET = LAYOUT.byteOffset(groupElement("sg_list"));

    public static MemorySegment sg_list(MemorySegment struct) {
        return struct.get(ADDRESS, sg_list$OFFSET);
    }

    public static void sg_list(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, sg_list$OFFSET, value);
    }

    public static final long num_sge$OFFSET = LAYOUT.byteOffset(groupElement("num_sge"));

    public static int num_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, num_sge$OFFSET);
    }

    public static void num_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, num_sge$OFFSET, value);
    }
}
