package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_srq_init_attr}, the argument of {@code ibv_create_srq}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_srq_init_attr {
    private ibv_srq_init_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("srq_context"),
            ibv_srq_attr.LAYOUT.withName("attr"),
            MemoryLayout.paddingLayout(4)).withName("ibv_srq_init_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long srq_context$OFFSET = LAYOUT.byteOffset(groupElement("srq_context"));

    public static MemorySegment srq_context(MemorySegment struct) {
        return struct.get(ADDRESS, srq_context$OFFSET);
    }

    public static void srq_context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, srq_context$OFFSET, value);
    }

    public static final long attr$OFFSET = LAYOUT.byteOffset(groupElement("attr"));

    /** A view of the {@code attr} member. */
    public static MemorySegment attr(MemorySegment struct) {
        return struct.asSlice(attr$OFFSET, ibv_srq_attr.LAYOUT);
    }
}
