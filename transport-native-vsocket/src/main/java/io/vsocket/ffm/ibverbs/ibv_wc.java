package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_wc}: a work completion. {@code imm_data} is in network byte order and shares
 * its slot with {@code invalidated_rkey}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_wc {
    private ibv_wc() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("wr_id"),
            JAVA_INT.withName("status"),
            JAVA_INT.withName("opcode"),
            JAVA_INT.withName("vendor_err"),
            JAVA_INT.withName("byte_len"),
            JAVA_INT.withName("imm_data"),
            JAVA_INT.withName("qp_num"),
            JAVA_INT.withName("src_qp"),
            JAVA_INT.withName("wc_flags"),
            JAVA_SHORT.withName("pkey_index"),
            JAVA_SHORT.withName("slid"),
            JAVA_BYTE.withName("sl"),
            JAVA_BYTE.withName("dlid_path_bits"),
            MemoryLayout.paddingLayout(2)).withName("ibv_wc");

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

    public static final long status$OFFSET = LAYOUT.byteOffset(groupElement("status"));

    public static int status(MemorySegment struct) {
        return struct.get(JAVA_INT, status$OFFSET);
    }

    public static void status(MemorySegment struct, int value) {
        struct.set(JAVA_INT, status$OFFSET, value);
    }

    public static final long opcode$OFFSET = LAYOUT.byteOffset(groupElement("opcode"));

    public static int opcode(MemorySegment struct) {
        return struct.get(JAVA_INT, opcode$OFFSET);
    }

    public static void opcode(MemorySegment struct, int value) {
        struct.set(JAVA_INT, opcode$OFFSET, value);
    }

    public static final long vendor_err$OFFSET = LAYOUT.byteOffset(groupElement("vendor_err"));

    public static int vendor_err(MemorySegment struct) {
        return struct.get(JAVA_INT, vendor_err$OFFSET);
    }

    public static void vendor_err(MemorySegment struct, int value) {
        struct.set(JAVA_INT, vendor_err$OFFSET, value);
    }

    public static final long byte_len$OFFSET = LAYOUT.byteOffset(groupElement("byte_len"));

    public static int byte_len(MemorySegment struct) {
        return struct.get(JAVA_INT, byte_len$OFFSET);
    }

    public static void byte_len(MemorySegment struct, int value) {
        struct.set(JAVA_INT, byte_len$OFFSET, value);
    }

    public static final long imm_data$OFFSET = LAYOUT.byteOffset(groupElement("imm_data"));

    public static int imm_data(MemorySegment struct) {
        return struct.get(JAVA_INT, imm_data$OFFSET);
    }

    public static void imm_data(MemorySegment struct, int value) {
        struct.set(JAVA_INT, imm_data$OFFSET, value);
    }

    public static final long qp_num$OFFSET = LAYOUT.byteOffset(groupElement("qp_num"));

    public static int qp_num(MemorySegment struct) {
        return struct.get(JAVA_INT, qp_num$OFFSET);
    }

    public static void qp_num(MemorySegment struct, int value) {
        struct.set(JAVA_INT, qp_num$OFFSET, value);
    }

    public static final long src_qp$OFFSET = LAYOUT.byteOffset(groupElement("src_qp"));

    public static int src_qp(MemorySegment struct) {
        return struct.get(JAVA_INT, src_qp$OFFSET);
    }

    public static void src_qp(MemorySegment struct, int value) {
        struct.set(JAVA_INT, src_qp$OFFSET, value);
    }

    public static final long wc_flags$OFFSET = LAYOUT.byteOffset(groupElement("wc_flags"));

    public static int wc_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, wc_flags$OFFSET);
    }

    public static void wc_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, wc_flags$OFFSET, value);
    }

    public static final long pkey_index$OFFSET = LAYOUT.byteOffset(groupElement("pkey_index"));

    public static short pkey_index(MemorySegment struct) {
        return struct.get(JAVA_SHORT, pkey_index$OFFSET);
    }

    public static void pkey_index(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, pkey_index$OFFSET, value);
    }

    public static final long slid$OFFSET = LAYOUT.byteOffset(groupElement("slid"));

    public static short slid(MemorySegment struct) {
        return struct.get(JAVA_SHORT, slid$OFFSET);
    }

    public static void slid(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, slid$OFFSET, value);
    }

    public static final long sl$OFFSET = LAYOUT.byteOffset(groupElement("sl"));

    public static byte sl(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sl$OFFSET);
    }

    public static void sl(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sl$OFFSET, value);
    }

    public static final long dlid_path_bits$OFFSET = LAYOUT.byteOffset(groupElement("dlid_path_bits"));

    public static byte dlid_path_bits(MemorySegment struct) {
        return struct.get(JAVA_BYTE, dlid_path_bits$OFFSET);
    }

    public static void dlid_path_bits(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, dlid_path_bits$OFFSET, value);
    }
}
