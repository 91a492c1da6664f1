package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_mr}, returned by {@code ibv_reg_mr} (owned by libibverbs; read only).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_mr {
    private ibv_mr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            ADDRESS.withName("pd"),
            ADDRESS.withName("addr"),
            JAVA_LONG.withName("length"),
            JAVA_INT.withName("handle"),
            JAVA_INT.withName("lkey"),
            JAVA_INT.withName("rkey"),
            MemoryLayout.paddingLayout(4)).withName("ibv_mr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long context$OFFSET = LAYOUT.byteOffset(groupElement("context"));

    public static MemorySegment context(MemorySegment struct) {
        return struct.get(ADDRESS, context$OFFSET);
    }

    public static void context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, context$OFFSET, value);
    }

    public static final long pd$OFFSET = LAYOUT.byteOffset(groupElement("pd"));

    public static MemorySegment pd(MemorySegment struct) {
        return struct.get(ADDRESS, pd$OFFSET);
    }

    public static void pd(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, pd$OFFSET, value);
    }

    public static final long addr$OFFSET = LAYOUT.byteOffset(groupElement("addr"));

    public static MemorySegment addr(MemorySegment struct) {
        return struct.get(ADDRESS, addr$OFFSET);
    }

    public static void addr(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, addr$OFFSET, value);
    }

    public static final long length$OFFSET = LAYOUT.byteOffset(groupElement("length"));

    public static long length(MemorySegment struct) {
        return struct.get(JAVA_LONG, length$OFFSET);
    }

    public static void length(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, length$OFFSET, value);
    }

    public static final long handle$OFFSET = LAYOUT.byteOffset(groupElement("handle"));

    public static int handle(MemorySegment struct) {
        return struct.get(JAVA_INT, handle$OFFSET);
    }

    public static void handle(MemorySegment struct, int value) {
        struct.set(JAVA_INT, handle$OFFSET, value);
    }

    public static final long lkey$OFFSET = LAYOUT.byteOffset(groupElement("lkey"));

    public static int lkey(MemorySegment struct) {
        return struct.get(JAVA_INT, lkey$OFFSET);
    }

    public static void lkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, lkey$OFFSET, value);
    }

    public static final long rkey$OFFSET = LAYOUT.byteOffset(groupElement("rkey"));

    public static int rkey(MemorySegment struct) {
        return struct.get(JAVA_INT, rkey$OFFSET);
    }

    public static void rkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, rkey$OFFSET, value);
    }
}
