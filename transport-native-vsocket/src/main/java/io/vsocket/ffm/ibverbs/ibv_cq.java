package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * The leading fields of {@code struct ibv_cq} (owned by libibverbs; read only).
 * <p>Only the leading fields vsocket reads are laid out; the struct is larger and never allocated
 * from Java.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_cq {
    private ibv_cq() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            ADDRESS.withName("channel"),
            ADDRESS.withName("cq_context"),
            JAVA_INT.withName("handle"),
            JAVA_INT.withName("cqe")).withName("ibv_cq");

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

    public static final long channel$OFFSET = LAYOUT.byteOffset(groupElement("channel"));

    public static MemorySegment channel(MemorySegment struct) {
        return struct.get(ADDRESS, channel$OFFSET);
    }

    public static void channel(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, channel$OFFSET, value);
    }

    public static final long cq_context$OFFSET = LAYOUT.byteOffset(groupElement("cq_context"));

    public static MemorySegment cq_context(MemorySegment struct) {
        return struct.get(ADDRESS, cq_context$OFFSET);
    }

    public static void cq_context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, cq_context$OFFSET, value);
    }

    public static final long handle$OFFSET = LAYOUT.byteOffset(groupElement("handle"));

    public static int handle(MemorySegment struct) {
        return struct.get(JAVA_INT, handle$OFFSET);
    }

    public static void handle(MemorySegment struct, int value) {
        struct.set(JAVA_INT, handle$OFFSET, value);
    }

    public static final long cqe$OFFSET = LAYOUT.byteOffset(groupElement("cqe"));

    public static int cqe(MemorySegment struct) {
        return struct.get(JAVA_INT, cqe$OFFSET);
    }

    public static void cqe(MemorySegment struct, int value) {
        struct.set(JAVA_INT, cqe$OFFSET, value);
    }
}
