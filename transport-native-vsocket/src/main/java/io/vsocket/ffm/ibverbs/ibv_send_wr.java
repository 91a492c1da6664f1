package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_send_wr}: a send work request. The anonymous unions are flattened:
 * {@code imm_data} (network byte order) shares its slot with {@code invalidate_rkey}, and the last
 * union appears as its {@code bind_mw} member (binding a type 2 memory window; TSO is never used).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_send_wr {
    private ibv_send_wr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("wr_id"),
            ADDRESS.withName("next"),
            ADDRESS.withName("sg_list"),
            JAVA_INT.withName("num_sge"),
            JAVA_INT.withName("opcode"),
            JAVA_INT.withName("send_flags"),
            JAVA_INT.withName("imm_data"),
            MemoryLayout.unionLayout(
            MemoryLayout.structLayout(JAVA_LONG.withName("remote_addr"), JAVA_INT.withName("rkey"),
                    MemoryLayout.paddingLayout(4)).withName("rdma"),
            MemoryLayout.structLayout(JAVA_LONG.withName("remote_addr"), JAVA_LONG.withName("compare_add"),
                    JAVA_LONG.withName("swap"), JAVA_INT.withName("rkey"), MemoryLayout.paddingLayout(4)).withName("atomic"),
            MemoryLayout.structLayout(ADDRESS.withName("ah"), JAVA_INT.withName("remote_qpn"),
                    JAVA_INT.withName("remote_qkey")).withName("ud")).withName("wr"),
            MemoryLayout.unionLayout(MemoryLayout.structLayout(JAVA_INT.withName("remote_srqn")).withName("xrc")).withName("qp_type"),
            MemoryLayout.paddingLayout(4),
            MemoryLayout.structLayout(ADDRESS.withName("mw"), JAVA_INT.withName("rkey"), MemoryLayout.paddingLayout(4),
                    MemoryLayout.structLayout(ADDRESS.withName("mr"), JAVA_LONG.withName("addr"),
                            JAVA_LONG.withName("length"), JAVA_INT.withName("mw_access_flags"),
                            MemoryLayout.paddingLayout(4)).withName("bind_info")).withName("bind_mw"))
            .withName("ibv_send_wr");

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

    public static final long opcode$OFFSET = LAYOUT.byteOffset(groupElement("opcode"));

    public static int opcode(MemorySegment struct) {
        return struct.get(JAVA_INT, opcode$OFFSET);
    }

    public static void opcode(MemorySegment struct, int value) {
        struct.set(JAVA_INT, opcode$OFFSET, value);
    }

    public static final long send_flags$OFFSET = LAYOUT.byteOffset(groupElement("send_flags"));

    public static int send_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, send_flags$OFFSET);
    }

    public static void send_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, send_flags$OFFSET, value);
    }

    public static final long imm_data$OFFSET = LAYOUT.byteOffset(groupElement("imm_data"));

    public static int imm_data(MemorySegment struct) {
        return struct.get(JAVA_INT, imm_data$OFFSET);
    }

    public static void imm_data(MemorySegment struct, int value) {
        struct.set(JAVA_INT, imm_data$OFFSET, value);
    }

    public static final long wr_rdma_remote_addr$OFFSET = LAYOUT.byteOffset(groupElement("wr"), groupElement("rdma"), groupElement("remote_addr"));

    public static long wr_rdma_remote_addr(MemorySegment struct) {
        return struct.get(JAVA_LONG, wr_rdma_remote_addr$OFFSET);
    }

    public static void wr_rdma_remote_addr(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, wr_rdma_remote_addr$OFFSET, value);
    }

    public static final long wr_rdma_rkey$OFFSET = LAYOUT.byteOffset(groupElement("wr"), groupElement("rdma"), groupElement("rkey"));

    public static int wr_rdma_rkey(MemorySegment struct) {
        return struct.get(JAVA_INT, wr_rdma_rkey$OFFSET);
    }

    public static void wr_rdma_rkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, wr_rdma_rkey$OFFSET, value);
    }

    public static final long wr_ud_ah$OFFSET = LAYOUT.byteOffset(groupElement("wr"), groupElement("ud"), groupElement("ah"));

    public static MemorySegment wr_ud_ah(MemorySegment struct) {
        return struct.get(ADDRESS, wr_ud_ah$OFFSET);
    }

    public static void wr_ud_ah(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, wr_ud_ah$OFFSET, value);
    }

    public static final long wr_ud_remote_qpn$OFFSET = LAYOUT.byteOffset(groupElement("wr"), groupElement("ud"), groupElement("remote_qpn"));

    public static int wr_ud_remote_qpn(MemorySegment struct) {
        return struct.get(JAVA_INT, wr_ud_remote_qpn$OFFSET);
    }

    public static void wr_ud_remote_qpn(MemorySegment struct, int value) {
        struct.set(JAVA_INT, wr_ud_remote_qpn$OFFSET, value);
    }

    public static final long wr_ud_remote_qkey$OFFSET = LAYOUT.byteOffset(groupElement("wr"), groupElement("ud"), groupElement("remote_qkey"));

    public static int wr_ud_remote_qkey(MemorySegment struct) {
        return struct.get(JAVA_INT, wr_ud_remote_qkey$OFFSET);
    }

    public static void wr_ud_remote_qkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, wr_ud_remote_qkey$OFFSET, value);
    }


    public static final long qp_type_xrc_remote_srqn$OFFSET = LAYOUT.byteOffset(groupElement("qp_type"), groupElement("xrc"), groupElement("remote_srqn"));

    public static int qp_type_xrc_remote_srqn(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_type_xrc_remote_srqn$OFFSET);
    }

    public static void qp_type_xrc_remote_srqn(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_type_xrc_remote_srqn$OFFSET, value);
    }

    public static final long bind_mw_mw$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("mw"));

    public static MemorySegment bind_mw_mw(MemorySegment struct) {
        return struct.get(ADDRESS, bind_mw_mw$OFFSET);
    }

    public static void bind_mw_mw(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, bind_mw_mw$OFFSET, value);
    }

    public static final long bind_mw_rkey$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("rkey"));

    public static int bind_mw_rkey(MemorySegment struct) {
        return struct.get(JAVA_INT, bind_mw_rkey$OFFSET);
    }

    public static void bind_mw_rkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, bind_mw_rkey$OFFSET, value);
    }

    public static final long bind_mw_bind_info_mr$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("bind_info"), groupElement("mr"));

    public static MemorySegment bind_mw_bind_info_mr(MemorySegment struct) {
        return struct.get(ADDRESS, bind_mw_bind_info_mr$OFFSET);
    }

    public static void bind_mw_bind_info_mr(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, bind_mw_bind_info_mr$OFFSET, value);
    }

    public static final long bind_mw_bind_info_addr$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("bind_info"), groupElement("addr"));

    public static long bind_mw_bind_info_addr(MemorySegment struct) {
        return struct.get(JAVA_LONG, bind_mw_bind_info_addr$OFFSET);
    }

    public static void bind_mw_bind_info_addr(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, bind_mw_bind_info_addr$OFFSET, value);
    }

    public static final long bind_mw_bind_info_length$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("bind_info"), groupElement("length"));

    public static long bind_mw_bind_info_length(MemorySegment struct) {
        return struct.get(JAVA_LONG, bind_mw_bind_info_length$OFFSET);
    }

    public static void bind_mw_bind_info_length(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, bind_mw_bind_info_length$OFFSET, value);
    }

    public static final long bind_mw_bind_info_mw_access_flags$OFFSET = LAYOUT.byteOffset(groupElement("bind_mw"), groupElement("bind_info"), groupElement("mw_access_flags"));

    public static int bind_mw_bind_info_mw_access_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, bind_mw_bind_info_mw_access_flags$OFFSET);
    }

    public static void bind_mw_bind_info_mw_access_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, bind_mw_bind_info_mw_access_flags$OFFSET, value);
    }
}
