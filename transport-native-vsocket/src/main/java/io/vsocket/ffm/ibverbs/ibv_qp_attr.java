package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_qp_attr}, the argument of {@code ibv_modify_qp} and {@code ibv_query_qp}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_qp_attr {
    private ibv_qp_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("qp_state"),
            JAVA_INT.withName("cur_qp_state"),
            JAVA_INT.withName("path_mtu"),
            JAVA_INT.withName("path_mig_state"),
            JAVA_INT.withName("qkey"),
            JAVA_INT.withName("rq_psn"),
            JAVA_INT.withName("sq_psn"),
            JAVA_INT.withName("dest_qp_num"),
            JAVA_INT.withName("qp_access_flags"),
            ibv_qp_cap.LAYOUT.withName("cap"),
            ibv_ah_attr.LAYOUT.withName("ah_attr"),
            ibv_ah_attr.LAYOUT.withName("alt_ah_attr"),
            JAVA_SHORT.withName("pkey_index"),
            JAVA_SHORT.withName("alt_pkey_index"),
            JAVA_BYTE.withName("en_sqd_async_notify"),
            JAVA_BYTE.withName("sq_draining"),
            JAVA_BYTE.withName("max_rd_atomic"),
            JAVA_BYTE.withName("max_dest_rd_atomic"),
            JAVA_BYTE.withName("min_rnr_timer"),
            JAVA_BYTE.withName("port_num"),
            JAVA_BYTE.withName("timeout"),
            JAVA_BYTE.withName("retry_cnt"),
            JAVA_BYTE.withName("rnr_retry"),
            JAVA_BYTE.withName("alt_port_num"),
            JAVA_BYTE.withName("alt_timeout"),
            MemoryLayout.paddingLayout(1),
            JAVA_INT.withName("rate_limit"),
            MemoryLayout.paddingLayout(4)).withName("ibv_qp_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long qp_state$OFFSET = LAYOUT.byteOffset(groupElement("qp_state"));

    public static int qp_state(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_state$OFFSET);
    }

    public static void qp_state(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_state$OFFSET, value);
    }

    public static final long cur_qp_state$OFFSET = LAYOUT.byteOffset(groupElement("cur_qp_state"));

    public static int cur_qp_state(MemorySegment struct) {
        return struct.get(JAVA_INT, cur_qp_state$OFFSET);
    }

    public static void cur_qp_state(MemorySegment struct, int value) {
        struct.set(JAVA_INT, cur_qp_state$OFFSET, value);
    }

    public static final long path_mtu$OFFSET = LAYOUT.byteOffset(groupElement("path_mtu"));

    public static int path_mtu(MemorySegment struct) {
        return struct.get(JAVA_INT, path_mtu$OFFSET);
    }

    public static void path_mtu(MemorySegment struct, int value) {
        struct.set(JAVA_INT, path_mtu$OFFSET, value);
    }

    public static final long path_mig_state$OFFSET = LAYOUT.byteOffset(groupElement("path_mig_state"));

    public static int path_mig_state(MemorySegment struct) {
        return struct.get(JAVA_INT, path_mig_state$OFFSET);
    }

    public static void path_mig_state(MemorySegment struct, int value) {
        struct.set(JAVA_INT, path_mig_state$OFFSET, value);
    }

    public static final long qkey$OFFSET = LAYOUT.byteOffset(groupElement("qkey"));

    public static int qkey(MemorySegment struct) {
        return struct.get(JAVA_INT, qkey$OFFSET);
    }

    public static void qkey(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qkey$OFFSET, value);
    }

    public static final long rq_psn$OFFSET = LAYOUT.byteOffset(groupElement("rq_psn"));

    public static int rq_psn(MemorySegment struct) {
        return struct.get(JAVA_INT, rq_psn$OFFSET);
    }

    public static void rq_psn(MemorySegment struct, int value) {
        struct.set(JAVA_INT, rq_psn$OFFSET, value);
    }

    public static final long sq_psn$OFFSET = LAYOUT.byteOffset(groupElement("sq_psn"));

    public static int sq_psn(MemorySegment struct) {
        return struct.get(JAVA_INT, sq_psn$OFFSET);
    }

    public static void sq_psn(MemorySegment struct, int value) {
        struct.set(JAVA_INT, sq_psn$OFFSET, value);
    }

    public static final long dest_qp_num$OFFSET = LAYOUT.byteOffset(groupElement("dest_qp_num"));

    public static int dest_qp_num(MemorySegment struct) {
        return struct.get(JAVA_INT, dest_qp_num$OFFSET);
    }

    public static void dest_qp_num(MemorySegment struct, int value) {
        struct.set(JAVA_INT, dest_qp_num$OFFSET, value);
    }

    public static final long qp_access_flags$OFFSET = LAYOUT.byteOffset(groupElement("qp_access_flags"));

    public static int qp_access_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_access_flags$OFFSET);
    }

    public static void qp_access_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_access_flags$OFFSET, value);
    }

    public static final long cap$OFFSET = LAYOUT.byteOffset(groupElement("cap"));

    /** A view of the {@code cap} member. */
    public static MemorySegment cap(MemorySegment struct) {
        return struct.asSlice(cap$OFFSET, ibv_qp_cap.LAYOUT);
    }

    public static final long ah_attr$OFFSET = LAYOUT.byteOffset(groupElement("ah_attr"));

    /** A view of the {@code ah_attr} member. */
    public static MemorySegment ah_attr(MemorySegment struct) {
        return struct.asSlice(ah_attr$OFFSET, ibv_ah_attr.LAYOUT);
    }

    public static final long alt_ah_attr$OFFSET = LAYOUT.byteOffset(groupElement("alt_ah_attr"));

    /** A view of the {@code alt_ah_attr} member. */
    public static MemorySegment alt_ah_attr(MemorySegment struct) {
        return struct.asSlice(alt_ah_attr$OFFSET, ibv_ah_attr.LAYOUT);
    }

    public static final long pkey_index$OFFSET = LAYOUT.byteOffset(groupElement("pkey_index"));

    public static short pkey_index(MemorySegment struct) {
        return struct.get(JAVA_SHORT, pkey_index$OFFSET);
    }

    public static void pkey_index(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, pkey_index$OFFSET, value);
    }

    public static final long alt_pkey_index$OFFSET = LAYOUT.byteOffset(groupElement("alt_pkey_index"));

    public static short alt_pkey_index(MemorySegment struct) {
        return struct.get(JAVA_SHORT, alt_pkey_index$OFFSET);
    }

    public static void alt_pkey_index(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, alt_pkey_index$OFFSET, value);
    }

    public static final long en_sqd_async_notify$OFFSET = LAYOUT.byteOffset(groupElement("en_sqd_async_notify"));

    public static byte en_sqd_async_notify(MemorySegment struct) {
        return struct.get(JAVA_BYTE, en_sqd_async_notify$OFFSET);
    }

    public static void en_sqd_async_notify(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, en_sqd_async_notify$OFFSET, value);
    }

    public static final long sq_draining$OFFSET = LAYOUT.byteOffset(groupElement("sq_draining"));

    public static byte sq_draining(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sq_draining$OFFSET);
    }

    public static void sq_draining(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sq_draining$OFFSET, value);
    }

    public static final long max_rd_atomic$OFFSET = LAYOUT.byteOffset(groupElement("max_rd_atomic"));

    public static byte max_rd_atomic(MemorySegment struct) {
        return struct.get(JAVA_BYTE, max_rd_atomic$OFFSET);
    }

    public static void max_rd_atomic(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, max_rd_atomic$OFFSET, value);
    }

    public static final long max_dest_rd_atomic$OFFSET = LAYOUT.byteOffset(groupElement("max_dest_rd_atomic"));

    public static byte max_dest_rd_atomic(MemorySegment struct) {
        return struct.get(JAVA_BYTE, max_dest_rd_atomic$OFFSET);
    }

    public static void max_dest_rd_atomic(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, max_dest_rd_atomic$OFFSET, value);
    }

    public static final long min_rnr_timer$OFFSET = LAYOUT.byteOffset(groupElement("min_rnr_timer"));

    public static byte min_rnr_timer(MemorySegment struct) {
        return struct.get(JAVA_BYTE, min_rnr_timer$OFFSET);
    }

    public static void min_rnr_timer(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, min_rnr_timer$OFFSET, value);
    }

    public static final long port_num$OFFSET = LAYOUT.byteOffset(groupElement("port_num"));

    public static byte port_num(MemorySegment struct) {
        return struct.get(JAVA_BYTE, port_num$OFFSET);
    }

    public static void port_num(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, port_num$OFFSET, value);
    }

    public static final long timeout$OFFSET = LAYOUT.byteOffset(groupElement("timeout"));

    public static byte timeout(MemorySegment struct) {
        return struct.get(JAVA_BYTE, timeout$OFFSET);
    }

    public static void timeout(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, timeout$OFFSET, value);
    }

    public static final long retry_cnt$OFFSET = LAYOUT.byteOffset(groupElement("retry_cnt"));

    public static byte retry_cnt(MemorySegment struct) {
        return struct.get(JAVA_BYTE, retry_cnt$OFFSET);
    }

    public static void retry_cnt(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, retry_cnt$OFFSET, value);
    }

    public static final long rnr_retry$OFFSET = LAYOUT.byteOffset(groupElement("rnr_retry"));

    public static byte rnr_retry(MemorySegment struct) {
        return struct.get(JAVA_BYTE, rnr_retry$OFFSET);
    }

    public static void rnr_retry(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, rnr_retry$OFFSET, value);
    }

    public static final long alt_port_num$OFFSET = LAYOUT.byteOffset(groupElement("alt_port_num"));

    public static byte alt_port_num(MemorySegment struct) {
        return struct.get(JAVA_BYTE, alt_port_num$OFFSET);
    }

    public static void alt_port_num(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, alt_port_num$OFFSET, value);
    }

    public static final long alt_timeout$OFFSET = LAYOUT.byteOffset(groupElement("alt_timeout"));

    public static byte alt_timeout(MemorySegment struct) {
        return struct.get(JAVA_BYTE, alt_timeout$OFFSET);
    }

    public static void alt_timeout(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, alt_timeout$OFFSET, value);
    }

    public static final long rate_limit$OFFSET = LAYOUT.byteOffset(groupElement("rate_limit"));

    public static int rate_limit(MemorySegment struct) {
        return struct.get(JAVA_INT, rate_limit$OFFSET);
    }

    public static void rate_limit(MemorySegment struct, int value) {
        struct.set(JAVA_INT, rate_limit$OFFSET, value);
    }
}
