package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_sge}: one scatter/gather element.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_sge {
    private ibv_sge() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("addr"),
            JAVA_INT.withName("length"),
            JAVA_INT.withName("lkey")).withName("ibv_sge");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long addr$OFFSET = LAYOUT.byteOffset(groupElement("addr"));

    public static long addr(MemorySegment struct) {
        return struct.get(JAVA_LONG, addr$OFFSET);
    }

    public static void addr(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, addr$OFFSET, value);
    }

    public static final long length$OFFSET = LAYOUT.byteOffset(groupElement("length"));

    public static int length(MemorySegment struct) {
        return struct.get(JAVA_INT, length$OFFSET);
    }

    public static void length(MemorySegment struct, int value) {
        struct.set(JAVA_INT, length$OFFSET, value);
    }

    public static final long lkey$OFFSET = LAYOUT.byteOffset(groupElement("lkey"));

    public static int lkey(MemorySegment struct) {
        return struct.get(JAVA_INT, lkey$OFFSET);
    }

    public static void lkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, lkey$OFFSET, value);
    }
}
