package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_port_attr}, filled by {@code ibv_query_port}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_port_attr {
    private ibv_port_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("state"),
            JAVA_INT.withName("max_mtu"),
            JAVA_INT.withName("active_mtu"),
            JAVA_INT.withName("gid_tbl_len"),
            JAVA_INT.withName("port_cap_flags"),
            JAVA_INT.withName("max_msg_sz"),
            JAVA_INT.withName("bad_pkey_cntr"),
            JAVA_INT.withName("qkey_viol_cntr"),
            JAVA_SHORT.withName("pkey_tbl_len"),
            JAVA_SHORT.withName("lid"),
            JAVA_SHORT.withName("sm_lid"),
            JAVA_BYTE.withName("lmc"),
            JAVA_BYTE.withName("max_vl_num"),
            JAVA_BYTE.withName("sm_sl"),
            JAVA_BYTE.withName("subnet_timeout"),
            JAVA_BYTE.withName("init_type_reply"),
            JAVA_BYTE.withName("active_width"),
            JAVA_BYTE.withName("active_speed"),
            JAVA_BYTE.withName("phys_state"),
            JAVA_BYTE.withName("link_layer"),
            JAVA_BYTE.withName("flags"),
            JAVA_SHORT.withName("port_cap_flags2"),
            MemoryLayout.paddingLayout(2)).withName("ibv_port_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long state$OFFSET = LAYOUT.byteOffset(groupElement("state"));

    public static int state(MemorySegment struct) {
        return struct.get(JAVA_INT, state$OFFSET);
    }

    public static void state(MemorySegment struct, int value) {
        struct.set(JAVA_INT, state$OFFSET, value);
    }

    public static final long max_mtu$OFFSET = LAYOUT.byteOffset(groupElement("max_mtu"));

    public static int max_mtu(MemorySegment struct) {
        return struct.get(JAVA_INT, max_mtu$OFFSET);
    }

    public static void max_mtu(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_mtu$OFFSET, value);
    }

    public static final long active_mtu$OFFSET = LAYOUT.byteOffset(groupElement("active_mtu"));

    public static int active_mtu(MemorySegment struct) {
        return struct.get(JAVA_INT, active_mtu$OFFSET);
    }

    public static void active_mtu(MemorySegment struct, int value) {
        struct.set(JAVA_INT, active_mtu$OFFSET, value);
    }

    public static final long gid_tbl_len$OFFSET = LAYOUT.byteOffset(groupElement("gid_tbl_len"));

    public static int gid_tbl_len(MemorySegment struct) {
        return struct.get(JAVA_INT, gid_tbl_len$OFFSET);
    }

    public static void gid_tbl_len(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gid_tbl_len$OFFSET, value);
    }

    public static final long port_cap_flags$OFFSET = LAYOUT.byteOffset(groupElement("port_cap_flags"));

    public static int port_cap_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, port_cap_flags$OFFSET);
    }

    public static void port_cap_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, port_cap_flags$OFFSET, value);
    }

    public static final long max_msg_sz$OFFSET = LAYOUT.byteOffset(groupElement("max_msg_sz"));

    public static int max_msg_sz(MemorySegment struct) {
        return struct.get(JAVA_INT, max_msg_sz$OFFSET);
    }

    public static void max_msg_sz(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_msg_sz$OFFSET, value);
    }

    public static final long bad_pkey_cntr$OFFSET = LAYOUT.byteOffset(groupElement("bad_pkey_cntr"));

    public static int bad_pkey_cntr(MemorySegment struct) {
        return struct.get(JAVA_INT, bad_pkey_cntr$OFFSET);
    }

    public static void bad_pkey_cntr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, bad_pkey_cntr$OFFSET, value);
    }

    public static final long qkey_viol_cntr$OFFSET = LAYOUT.byteOffset(groupElement("qkey_viol_cntr"));

    public static int qkey_viol_cntr(MemorySegment struct) {
        return struct.get(JAVA_INT, qkey_viol_cntr$OFFSET);
    }

    public static void qkey_viol_cntr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qkey_viol_cntr$OFFSET, value);
    }

    public static final long pkey_tbl_len$OFFSET = LAYOUT.byteOffset(groupElement("pkey_tbl_len"));

    public static short pkey_tbl_len(MemorySegment struct) {
        return struct.get(JAVA_SHORT, pkey_tbl_len$OFFSET);
    }

    public static void pkey_tbl_len(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, pkey_tbl_len$OFFSET, value);
    }

    public static final long lid$OFFSET = LAYOUT.byteOffset(groupElement("lid"));

    public static short lid(MemorySegment struct) {
        return struct.get(JAVA_SHORT, lid$OFFSET);
    }

    public static void lid(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, lid$OFFSET, value);
    }

    public static final long sm_lid$OFFSET = LAYOUT.byteOffset(groupElement("sm_lid"));

    public static short sm_lid(MemorySegment struct) {
        return struct.get(JAVA_SHORT, sm_lid$OFFSET);
    }

    public static void sm_lid(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sm_lid$OFFSET, value);
    }

    public static final long lmc$OFFSET = LAYOUT.byteOffset(groupElement("lmc"));

    public static byte lmc(MemorySegment struct) {
        return struct.get(JAVA_BYTE, lmc$OFFSET);
    }

    public static void lmc(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, lmc$OFFSET, value);
    }

    public static final long max_vl_num$OFFSET = LAYOUT.byteOffset(groupElement("max_vl_num"));

    public static byte max_vl_num(MemorySegment struct) {
        return struct.get(JAVA_BYTE, max_vl_num$OFFSET);
    }

    public static void max_vl_num(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, max_vl_num$OFFSET, value);
    }

    public static final long sm_sl$OFFSET = LAYOUT.byteOffset(groupElement("sm_sl"));

    public static byte sm_sl(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sm_sl$OFFSET);
    }

    public static void sm_sl(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sm_sl$OFFSET, value);
    }

    public static final long subnet_timeout$OFFSET = LAYOUT.byteOffset(groupElement("subnet_timeout"));

    public static byte subnet_timeout(MemorySegment struct) {
        return struct.get(JAVA_BYTE, subnet_timeout$OFFSET);
    }

    public static void subnet_timeout(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, subnet_timeout$OFFSET, value);
    }

    public static final long init_type_reply$OFFSET = LAYOUT.byteOffset(groupElement("init_type_reply"));

    public static byte init_type_reply(MemorySegment struct) {
        return struct.get(JAVA_BYTE, init_type_reply$OFFSET);
    }

    public static void init_type_reply(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, init_type_reply$OFFSET, value);
    }

    public static final long active_width$OFFSET = LAYOUT.byteOffset(groupElement("active_width"));

    public static byte active_width(MemorySegment struct) {
        return struct.get(JAVA_BYTE, active_width$OFFSET);
    }

    public static void active_width(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, active_width$OFFSET, value);
    }

    public static final long active_speed$OFFSET = LAYOUT.byteOffset(groupElement("active_speed"));

    public static byte active_speed(MemorySegment struct) {
        return struct.get(JAVA_BYTE, active_speed$OFFSET);
    }

    public static void active_speed(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, active_speed$OFFSET, value);
    }

    public static final long phys_state$OFFSET = LAYOUT.byteOffset(groupElement("phys_state"));

    public static byte phys_state(MemorySegment struct) {
        return struct.get(JAVA_BYTE, phys_state$OFFSET);
    }

    public static void phys_state(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, phys_state$OFFSET, value);
    }

    public static final long link_layer$OFFSET = LAYOUT.byteOffset(groupElement("link_layer"));

    public static byte link_layer(MemorySegment struct) {
        return struct.get(JAVA_BYTE, link_layer$OFFSET);
    }

    public static void link_layer(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, link_layer$OFFSET, value);
    }

    public static final long flags$OFFSET = LAYOUT.byteOffset(groupElement("flags"));

    public static byte flags(MemorySegment struct) {
        return struct.get(JAVA_BYTE, flags$OFFSET);
    }

    public static void flags(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, flags$OFFSET, value);
    }

    public static final long port_cap_flags2$OFFSET = LAYOUT.byteOffset(groupElement("port_cap_flags2"));

    public static short port_cap_flags2(MemorySegment struct) {
        return struct.get(JAVA_SHORT, port_cap_flags2$OFFSET);
    }

    public static void port_cap_flags2(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, port_cap_flags2$OFFSET, value);
    }
}
