package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_ah_attr}: an address vector (for {@code ibv_create_ah} and RC QPs).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_ah_attr {
    private ibv_ah_attr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ibv_global_route.LAYOUT.withName("grh"),
            JAVA_SHORT.withName("dlid"),
            JAVA_BYTE.withName("sl"),
            JAVA_BYTE.withName("src_path_bits"),
            JAVA_BYTE.withName("static_rate"),
            JAVA_BYTE.withName("is_global"),
            JAVA_BYTE.withName("port_num"),
            MemoryLayout.paddingLayout(1)).withName("ibv_ah_attr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long grh$OFFSET = LAYOUT.byteOffset(groupElement("grh"));

    /** A view of the {@code grh} member. */
    public static MemorySegment grh(MemorySegment struct) {
        return struct.asSlice(grh$OFFSET, ibv_global_route.LAYOUT);
    }

    public static final long dlid$OFFSET = LAYOUT.byteOffset(groupElement("dlid"));

    public static short dlid(MemorySegment struct) {
        return struct.get(JAVA_SHORT, dlid$OFFSET);
    }

    public static void dlid(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, dlid$OFFSET, value);
    }

    public static final long sl$OFFSET = LAYOUT.byteOffset(groupElement("sl"));

    public static byte sl(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sl$OFFSET);
    }

    public static void sl(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sl$OFFSET, value);
    }

    public static final long src_path_bits$OFFSET = LAYOUT.byteOffset(groupElement("src_path_bits"));

    public static byte src_path_bits(MemorySegment struct) {
        return struct.get(JAVA_BYTE, src_path_bits$OFFSET);
    }

    public static void src_path_bits(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, src_path_bits$OFFSET, value);
    }

    public static final long static_rate$OFFSET = LAYOUT.byteOffset(groupElement("static_rate"));

    public static byte static_rate(MemorySegment struct) {
        return struct.get(JAVA_BYTE, static_rate$OFFSET);
    }

    public static void static_rate(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, static_rate$OFFSET, value);
    }

    public static final long is_global$OFFSET = LAYOUT.byteOffset(groupElement("is_global"));

    public static byte is_global(MemorySegment struct) {
        return struct.get(JAVA_BYTE, is_global$OFFSET);
    }

    public static void is_global(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, is_global$OFFSET, value);
    }

    public static final long port_num$OFFSET = LAYOUT.byteOffset(groupElement("port_num"));

    public static byte port_num(MemorySegment struct) {
        return struct.get(JAVA_BYTE, port_num$OFFSET);
    }

    public static void port_num(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, port_num$OFFSET, value);
    }
}
