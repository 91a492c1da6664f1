package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_qp_init_attr}, the argument of {@code ibv_create_qp}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_qp_init_attr {
    private ibv_qp_init_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("qp_context"),
            ADDRESS.withName("send_cq"),
            ADDRESS.withName("recv_cq"),
            ADDRESS.withName("srq"),
            ibv_qp_cap.LAYOUT.withName("cap"),
            JAVA_INT.withName("qp_type"),
            JAVA_INT.withName("sq_sig_all"),
            MemoryLayout.paddingLayout(4)).withName("ibv_qp_init_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long qp_context$OFFSET = LAYOUT.byteOffset(groupElement("qp_context"));

    public static MemorySegment qp_context(MemorySegment struct) {
        return struct.get(ADDRESS, qp_context$OFFSET);
    }

    public static void qp_context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, qp_context$OFFSET, value);
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

    public static final long cap$OFFSET = LAYOUT.byteOffset(groupElement("cap"));

    /** A view of the {@code cap} member. */
    public static MemorySegment cap(MemorySegment struct) {
        return struct.asSlice(cap$OFFSET, ibv_qp_cap.LAYOUT);
    }

    public static final long qp_type$OFFSET = LAYOUT.byteOffset(groupElement("qp_type"));

    public static int qp_type(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_type$OFFSET);
    }

    public static void qp_type(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_type$OFFSET, value);
    }

    public static final long sq_sig_all$OFFSET = LAYOUT.byteOffset(groupElement("sq_sig_all"));

    public static int sq_sig_all(MemorySegment struct) {
        return struct.get(JAVA_INT, sq_sig_all$OFFSET);
    }

    public static void sq_sig_all(MemorySegment struct, int value) {
        struct.set(JAVA_INT, sq_sig_all$OFFSET, value);
    }
}
