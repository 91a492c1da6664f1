package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_srq_attr}: limits of a shared receive queue.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_srq_attr {
    private ibv_srq_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("max_wr"),
            JAVA_INT.withName("max_sge"),
            JAVA_INT.withName("srq_limit")).withName("ibv_srq_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long max_wr$OFFSET = LAYOUT.byteOffset(groupElement("max_wr"));

    public static int max_wr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_wr$OFFSET);
    }

    public static void max_wr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_wr$OFFSET, value);
    }

    public static final long max_sge$OFFSET = LAYOUT.byteOffset(groupElement("max_sge"));

    public static int max_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, max_sge$OFFSET);
    }

    public static void max_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_sge$OFFSET, value);
    }

    public static final long srq_limit$OFFSET = LAYOUT.byteOffset(groupElement("srq_limit"));

    public static int srq_limit(MemorySegment struct) {
        return struct.get(JAVA_INT, srq_limit$OFFSET);
    }

    public static void srq_limit(MemorySegment struct, int value) {
        struct.set(JAVA_INT, srq_limit$OFFSET, value);
    }
}
