package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * The leading fields of {@code struct ibv_srq} (owned by libibverbs; read only).
 * <p>Only the leading fields vsocket reads are laid out; the struct is larger and never allocated
 * from Java.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_srq {
    private ibv_srq() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            ADDRESS.withName("srq_context"),
            ADDRESS.withName("pd"),
            JAVA_INT.withName("handle")).withName("ibv_srq");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static final long context$OFFSET = LAYOUT.byteOffset(groupElement("context"));

    public static MemorySegment context(MemorySegment struct) {
        return struct.get(ADDRESS, context$OFFSET);
    }

    public static void context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, context$OFFSET, value);
    }

    public static final long srq_context$OFFSET = LAYOUT.byteOffset(groupElement("srq_context"));

    public static MemorySegment srq_context(MemorySegment struct) {
        return struct.get(ADDRESS, srq_context$OFFSET);
    }

    public static void srq_context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, srq_context$OFFSET, value);
    }

    public static final long pd$OFFSET = LAYOUT.byteOffset(groupElement("pd"));

    public static MemorySegment pd(MemorySegment struct) {
        return struct.get(ADDRESS, pd$OFFSET);
    }

    public static void pd(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, pd$OFFSET, value);
    }

    public static final long handle$OFFSET = LAYOUT.byteOffset(groupElement("handle"));

    public static int handle(MemorySegment struct) {
        return struct.get(JAVA_INT, handle$OFFSET);
    }

    public static void handle(MemorySegment struct, int value) {
        struct.set(JAVA_INT, handle$OFFSET, value);
    }
}
