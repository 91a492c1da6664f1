package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * The leading fields of {@code struct ibv_qp} (owned by libibverbs; read only).
 * <p>Only the leading fields vsocket reads are laid out; the struct is larger and never allocated
 * from Java.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_qp {
    private ibv_qp() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            ADDRESS.withName("qp_context"),
            ADDRESS.withName("pd"),
            ADDRESS.withName("send_cq"),
            ADDRESS.withName("recv_cq"),
            ADDRESS.withName("srq"),
            JAVA_INT.withName("handle"),
            JAVA_INT.withName("qp_num"),
            JAVA_INT.withName("state"),
            JAVA_INT.withName("qp_type")).withName("ibv_qp");

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

    public static final long qp_context$OFFSET = LAYOUT.byteOffset(groupElement("qp_context"));

    public static MemorySegment qp_context(MemorySegment struct) {
        return struct.get(ADDRESS, qp_context$OFFSET);
    }

    public static void qp_context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, qp_context$OFFSET, value);
    }

    public static final long pd$OFFSET = LAYOUT.byteOffset(groupElement("pd"));

    public static MemorySegment pd(MemorySegment struct) {
        return struct.get(ADDRESS, pd$OFFSET);
    }

    public static void pd(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, pd$OFFSET, value);
    }

    public static final long send_cq$OFFSET = LAYOUT.byteOffset(groupElement("send_cq"));

    public static MemorySegment send_cq(MemorySegment struct) {
        return struct.get(ADDRESS, send_cq$OFFSET);
    }

    public static void send_cq(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, send_cq$OFFSET, value);
    }

    public static final long recv_cq$OFFSET = LAYOUT.byteOffset(groupElement("recv_cq"));

    public static MemorySegment recv_cq(MemorySegment struct) {
        return struct.get(ADDRESS, recv_cq$OFFSET);
    }

    public static void recv_cq(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, recv_cq$OFFSET, value);
    }

    public static final long srq$OFFSET = LAYOUT.byteOffset(groupElement("srq"));

    public static MemorySegment srq(MemorySegment struct) {
        return struct.get(ADDRESS, srq$OFFSET);
    }

    public static void srq(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, srq$OFFSET, value);
    }

    public static final long handle$OFFSET = LAYOUT.byteOffset(groupElement("handle"));

    public static int handle(MemorySegment struct) {
        return struct.get(JAVA_INT, handle$OFFSET);
    }

    public static void handle(MemorySegment struct, int value) {
        struct.set(JAVA_INT, handle$OFFSET, value);
    }

    public static final long qp_num$OFFSET = LAYOUT.byteOffset(groupElement("qp_num"));

    public static int qp_num(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_num$OFFSET);
    }

    public static void qp_num(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_num$OFFSET, value);
    }

    public static final long state$OFFSET = LAYOUT.byteOffset(groupElement("state"));

    public static int state(MemorySegment struct) {
        return struct.get(JAVA_INT, state$OFFSET);
    }

    public static void state(MemorySegment struct, int value) {
        struct.set(JAVA_INT, state$OFFSET, value);
    }

    public static final long qp_type$OFFSET = LAYOUT.byteOffset(groupElement("qp_type"));

    public static int qp_type(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_type$OFFSET);
    }

    public static void qp_type(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_type$OFFSET, value);
    }
}
