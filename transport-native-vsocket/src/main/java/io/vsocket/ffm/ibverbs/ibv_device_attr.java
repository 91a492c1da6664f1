package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_device_attr}, filled by {@code ibv_query_device}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_device_attr {
    private ibv_device_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(64, JAVA_BYTE).withName("fw_ver"),
            JAVA_LONG.withName("node_guid"),
            JAVA_LONG.withName("sys_image_guid"),
            JAVA_LONG.withName("max_mr_size"),
            JAVA_LONG.withName("page_size_cap"),
            JAVA_INT.withName("vendor_id"),
            JAVA_INT.withName("vendor_part_id"),
            JAVA_INT.withName("hw_ver"),
            JAVA_INT.withName("max_qp"),
            JAVA_INT.withName("max_qp_wr"),
            JAVA_INT.withName("device_cap_flags"),
            JAVA_INT.withName("max_sge"),
            JAVA_INT.withName("max_sge_rd"),
            JAVA_INT.withName("max_cq"),
            JAVA_INT.withName("max_cqe"),
            JAVA_INT.withName("max_mr"),
            JAVA_INT.withName("max_pd"),
            JAVA_INT.withName("max_qp_rd_atom"),
            JAVA_INT.withName("max_ee_rd_atom"),
            JAVA_INT.withName("max_res_rd_atom"),
            JAVA_INT.withName("max_qp_init_rd_atom"),
            JAVA_INT.withName("max_ee_init_rd_atom"),
            JAVA_INT.withName("atomic_cap"),
            JAVA_INT.withName("max_ee"),
            JAVA_INT.withName("max_rdd"),
            JAVA_INT.withName("max_mw"),
            JAVA_INT.withName("max_raw_ipv6_qp"),
            JAVA_INT.withName("max_raw_ethy_qp"),
            JAVA_INT.withName("max_mcast_grp"),
            JAVA_INT.withName("max_mcast_qp_attach"),
            JAVA_INT.withName("max_total_mcast_qp_attach"),
            JAVA_INT.withName("max_ah"),
            JAVA_INT.withName("max_fmr"),
            JAVA_INT.withName("max_map_per_fmr"),
            JAVA_INT.withName("max_srq"),
            JAVA_INT.withName("max_srq_wr"),
            JAVA_INT.withName("max_srq_sge"),
            JAVA_SHORT.withName("max_pkeys"),
            JAVA_BYTE.withName("local_ca_ack_delay"),
            JAVA_BYTE.withName("phys_port_cnt"),
            MemoryLayout.paddingLayout(4)).withName("ibv_device_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long fw_ver$OFFSET = LAYOUT.byteOffset(groupElement("fw_ver"));
    /** The {@code fw_ver} member's layout, selected once (a view per call would select it again). */
    public static final MemoryLayout fw_ver$LAYOUT = LAYOUT.select(groupElement("fw_ver"));

    /** A view of the {@code fw_ver} member. */
    public static MemorySegment fw_ver(MemorySegment struct) {
        return struct.asSlice(fw_ver$OFFSET, fw_ver$LAYOUT);
    }

    public static final long node_guid$OFFSET = LAYOUT.byteOffset(groupElement("node_guid"));

    public static long node_guid(MemorySegment struct) {
        return struct.get(JAVA_LONG, node_guid$OFFSET);
    }

    public static void node_guid(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, node_guid$OFFSET, value);
    }

    public static final long sys_image_guid$OFFSET = LAYOUT.byteOffset(groupElement("sys_image_guid"));

    public static long sys_image_guid(MemorySegment struct) {
        return struct.get(JAVA_LONG, sys_image_guid$OFFSET);
    }

    public static void sys_image_guid(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, sys_image_guid$OFFSET, value);
    }

    public static final long max_mr_size$OFFSET = LAYOUT.byteOffset(groupElement("max_mr_size"));

    public static long max_mr_size(MemorySegment struct) {
        return struct.get(JAVA_LONG, max_mr_size$OFFSET);
    }

    public static void max_mr_size(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, max_mr_size$OFFSET, value);
    }

    public static final long page_size_cap$OFFSET = LAYOUT.byteOffset(groupElement("page_size_cap"));

    public static long page_size_cap(MemorySegment struct) {
        return struct.get(JAVA_LONG, page_size_cap$OFFSET);
    }

    public static void page_size_cap(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, page_size_cap$OFFSET, value);
    }

    public static final long vendor_id$OFFSET = LAYOUT.byteOffset(groupElement("vendor_id"));

    public static int vendor_id(MemorySegment struct) {
        return struct.get(JAVA_INT, vendor_id$OFFSET);
    }

    public static void vendor_id(MemorySegment struct, int value) {
        struct.set(JAVA_INT, vendor_id$OFFSET, value);
    }

    public static final long vendor_part_id$OFFSET = LAYOUT.byteOffset(groupElement("vendor_part_id"));

    public static int vendor_part_id(MemorySegment struct) {
        return struct.get(JAVA_INT, vendor_part_id$OFFSET);
    }

    public static void vendor_part_id(MemorySegment struct, int value) {
        struct.set(JAVA_INT, vendor_part_id$OFFSET, value);
    }

    public static final long hw_ver$OFFSET = LAYOUT.byteOffset(groupElement("hw_ver"));

    public static int hw_ver(MemorySegment struct) {
        return struct.get(JAVA_INT, hw_ver$OFFSET);
    }

    public static void hw_ver(MemorySegment struct, int value) {
        struct.set(JAVA_INT, hw_ver$OFFSET, value);
    }

    public static final long max_qp$OFFSET = LAYOUT.byteOffset(groupElement("max_qp"));

    public static int max_qp(MemorySegment struct) {
        return struct.get(JAVA_INT, max_qp$OFFSET);
    }

    public static void max_qp(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_qp$OFFSET, value);
    }

    public static final long max_qp_wr$OFFSET = LAYOUT.byteOffset(groupElement("max_qp_wr"));

    public static int max_qp_wr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_qp_wr$OFFSET);
    }

    public static void max_qp_wr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_qp_wr$OFFSET, value);
    }

    public static final long device_cap_flags$OFFSET = LAYOUT.byteOffset(groupElement("device_cap_flags"));

    public static int device_cap_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, device_cap_flags$OFFSET);
    }

    public static void device_cap_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, device_cap_flags$OFFSET, value);
    }

    public static final long max_sge$OFFSET = LAYOUT.byteOffset(groupElement("max_sge"));

    public static int max_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, max_sge$OFFSET);
    }

    public static void max_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_sge$OFFSET, value);
    }

    public static final long max_sge_rd$OFFSET = LAYOUT.byteOffset(groupElement("max_sge_rd"));

    public static int max_sge_rd(MemorySegment struct) {
        return struct.get(JAVA_INT, max_sge_rd$OFFSET);
    }

    public static void max_sge_rd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_sge_rd$OFFSET, value);
    }

    public static final long max_cq$OFFSET = LAYOUT.byteOffset(groupElement("max_cq"));

    public static int max_cq(MemorySegment struct) {
        return struct.get(JAVA_INT, max_cq$OFFSET);
    }

    public static void max_cq(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_cq$OFFSET, value);
    }

    public static final long max_cqe$OFFSET = LAYOUT.byteOffset(groupElement("max_cqe"));

    public static int max_cqe(MemorySegment struct) {
        return struct.get(JAVA_INT, max_cqe$OFFSET);
    }

    public static void max_cqe(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_cqe$OFFSET, value);
    }

    public static final long max_mr$OFFSET = LAYOUT.byteOffset(groupElement("max_mr"));

    public static int max_mr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_mr$OFFSET);
    }

    public static void max_mr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_mr$OFFSET, value);
    }

    public static final long max_pd$OFFSET = LAYOUT.byteOffset(groupElement("max_pd"));

    public static int max_pd(MemorySegment struct) {
        return struct.get(JAVA_INT, max_pd$OFFSET);
    }

    public static void max_pd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_pd$OFFSET, value);
    }

    public static final long max_qp_rd_atom$OFFSET = LAYOUT.byteOffset(groupElement("max_qp_rd_atom"));

    public static int max_qp_rd_atom(MemorySegment struct) {
        return struct.get(JAVA_INT, max_qp_rd_atom$OFFSET);
    }

    public static void max_qp_rd_atom(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_qp_rd_atom$OFFSET, value);
    }

    public static final long max_ee_rd_atom$OFFSET = LAYOUT.byteOffset(groupElement("max_ee_rd_atom"));

    public static int max_ee_rd_atom(MemorySegment struct) {
        return struct.get(JAVA_INT, max_ee_rd_atom$OFFSET);
    }

    public static void max_ee_rd_atom(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_ee_rd_atom$OFFSET, value);
    }

    public static final long max_res_rd_atom$OFFSET = LAYOUT.byteOffset(groupElement("max_res_rd_atom"));

    public static int max_res_rd_atom(MemorySegment struct) {
        return struct.get(JAVA_INT, max_res_rd_atom$OFFSET);
    }

    public static void max_res_rd_atom(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_res_rd_atom$OFFSET, value);
    }

    public static final long max_qp_init_rd_atom$OFFSET = LAYOUT.byteOffset(groupElement("max_qp_init_rd_atom"));

    public static int max_qp_init_rd_atom(MemorySegment struct) {
        return struct.get(JAVA_INT, max_qp_init_rd_atom$OFFSET);
    }

    public static void max_qp_init_rd_atom(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_qp_init_rd_atom$OFFSET, value);
    }

    public static final long max_ee_init_rd_atom$OFFSET = LAYOUT.byteOffset(groupElement("max_ee_init_rd_atom"));

    public static int max_ee_init_rd_atom(MemorySegment struct) {
        return struct.get(JAVA_INT, max_ee_init_rd_atom$OFFSET);
    }

    public static void max_ee_init_rd_atom(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_ee_init_rd_atom$OFFSET, value);
    }

    public static final long atomic_cap$OFFSET = LAYOUT.byteOffset(groupElement("atomic_cap"));

    public static int atomic_cap(MemorySegment struct) {
        return struct.get(JAVA_INT, atomic_cap$OFFSET);
    }

    public static void atomic_cap(MemorySegment struct, int value) {
        struct.set(JAVA_INT, atomic_cap$OFFSET, value);
    }

    public static final long max_ee$OFFSET = LAYOUT.byteOffset(groupElement("max_ee"));

    public static int max_ee(MemorySegment struct) {
        return struct.get(JAVA_INT, max_ee$OFFSET);
    }

    public static void max_ee(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_ee$OFFSET, value);
    }

    public static final long max_rdd$OFFSET = LAYOUT.byteOffset(groupElement("max_rdd"));

    public static int max_rdd(MemorySegment struct) {
        return struct.get(JAVA_INT, max_rdd$OFFSET);
    }

    public static void max_rdd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_rdd$OFFSET, value);
    }

    public static final long max_mw$OFFSET = LAYOUT.byteOffset(groupElement("max_mw"));

    public static int max_mw(MemorySegment struct) {
        return struct.get(JAVA_INT, max_mw$OFFSET);
    }

    public static void max_mw(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_mw$OFFSET, value);
    }

    public static final long max_raw_ipv6_qp$OFFSET = LAYOUT.byteOffset(groupElement("max_raw_ipv6_qp"));

    public static int max_raw_ipv6_qp(MemorySegment struct) {
        return struct.get(JAVA_INT, max_raw_ipv6_qp$OFFSET);
    }

    public static void max_raw_ipv6_qp(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_raw_ipv6_qp$OFFSET, value);
    }

    public static final long max_raw_ethy_qp$OFFSET = LAYOUT.byteOffset(groupElement("max_raw_ethy_qp"));

    public static int max_raw_ethy_qp(MemorySegment struct) {
        return struct.get(JAVA_INT, max_raw_ethy_qp$OFFSET);
    }

    public static void max_raw_ethy_qp(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_raw_ethy_qp$OFFSET, value);
    }

    public static final long max_mcast_grp$OFFSET = LAYOUT.byteOffset(groupElement("max_mcast_grp"));

    public static int max_mcast_grp(MemorySegment struct) {
        return struct.get(JAVA_INT, max_mcast_grp$OFFSET);
    }

    public static void max_mcast_grp(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_mcast_grp$OFFSET, value);
    }

    public static final long max_mcast_qp_attach$OFFSET = LAYOUT.byteOffset(groupElement("max_mcast_qp_attach"));

    public static int max_mcast_qp_attach(MemorySegment struct) {
        return struct.get(JAVA_INT, max_mcast_qp_attach$OFFSET);
    }

    public static void max_mcast_qp_attach(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_mcast_qp_attach$OFFSET, value);
    }

    public static final long max_total_mcast_qp_attach$OFFSET = LAYOUT.byteOffset(groupElement("max_total_mcast_qp_attach"));

    public static int max_total_mcast_qp_attach(MemorySegment struct) {
        return struct.get(JAVA_INT, max_total_mcast_qp_attach$OFFSET);
    }

    public static void max_total_mcast_qp_attach(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_total_mcast_qp_attach$OFFSET, value);
    }

    public static final long max_ah$OFFSET = LAYOUT.byteOffset(groupElement("max_ah"));

    public static int max_ah(MemorySegment struct) {
        return struct.get(JAVA_INT, max_ah$OFFSET);
    }

    public static void max_ah(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_ah$OFFSET, value);
    }

    public static final long max_fmr$OFFSET = LAYOUT.byteOffset(groupElement("max_fmr"));

    public static int max_fmr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_fmr$OFFSET);
    }

    public static void max_fmr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_fmr$OFFSET, value);
    }

    public static final long max_map_per_fmr$OFFSET = LAYOUT.byteOffset(groupElement("max_map_per_fmr"));

    public static int max_map_per_fmr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_map_per_fmr$OFFSET);
    }

    public static void max_map_per_fmr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_map_per_fmr$OFFSET, value);
    }

    public static final long max_srq$OFFSET = LAYOUT.byteOffset(groupElement("max_srq"));

    public static int max_srq(MemorySegment struct) {
        return struct.get(JAVA_INT, max_srq$OFFSET);
    }

    public static void max_srq(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_srq$OFFSET, value);
    }

    public static final long max_srq_wr$OFFSET = LAYOUT.byteOffset(groupElement("max_srq_wr"));

    public static int max_srq_wr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_srq_wr$OFFSET);
    }

    public static void max_srq_wr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_srq_wr$OFFSET, value);
    }

    public static final long max_srq_sge$OFFSET = LAYOUT.byteOffset(groupElement("max_srq_sge"));

    public static int max_srq_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, max_srq_sge$OFFSET);
    }

    public static void max_srq_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_srq_sge$OFFSET, value);
    }

    public static final long max_pkeys$OFFSET = LAYOUT.byteOffset(groupElement("max_pkeys"));

    public static short max_pkeys(MemorySegment struct) {
        return struct.get(JAVA_SHORT, max_pkeys$OFFSET);
    }

    public static void max_pkeys(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, max_pkeys$OFFSET, value);
    }

    public static final long local_ca_ack_delay$OFFSET = LAYOUT.byteOffset(groupElement("local_ca_ack_delay"));

    public static byte local_ca_ack_delay(MemorySegment struct) {
        return struct.get(JAVA_BYTE, local_ca_ack_delay$OFFSET);
    }

    public static void local_ca_ack_delay(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, local_ca_ack_delay$OFFSET, value);
    }

    public static final long phys_port_cnt$OFFSET = LAYOUT.byteOffset(groupElement("phys_port_cnt"));

    public static byte phys_port_cnt(MemorySegment struct) {
        return struct.get(JAVA_BYTE, phys_port_cnt$OFFSET);
    }

    public static void phys_port_cnt(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, phys_port_cnt$OFFSET, value);
    }
}
