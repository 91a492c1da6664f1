package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_grh}: the 40-byte global route header that UD receives place before the payload.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_grh {
    private ibv_grh() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("version_tclass_flow"),
            JAVA_SHORT.withName("paylen"),
            JAVA_BYTE.withName("next_hdr"),
            JAVA_BYTE.withName("hop_limit"),
            ibv_gid.LAYOUT.withName("sgid"),
            ibv_gid.LAYOUT.withName("dgid")).withName("ibv_grh");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long version_tclass_flow$OFFSET = LAYOUT.byteOffset(groupElement("version_tclass_flow"));

    public static int version_tclass_flow(MemorySegment struct) {
        return struct.get(JAVA_INT, version_tclass_flow$OFFSET);
    }

    public static void version_tclass_flow(MemorySegment struct, int value) {
        struct.set(JAVA_INT, version_tclass_flow$OFFSET, value);
    }

    public static final long paylen$OFFSET = LAYOUT.byteOffset(groupElement("paylen"));

    public static short paylen(MemorySegment struct) {
        return struct.get(JAVA_SHORT, paylen$OFFSET);
    }

    public static void paylen(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, paylen$OFFSET, value);
    }

    public static final long next_hdr$OFFSET = LAYOUT.byteOffset(groupElement("next_hdr"));

    public static byte next_hdr(MemorySegment struct) {
        return struct.get(JAVA_BYTE, next_hdr$OFFSET);
    }

    public static void next_hdr(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, next_hdr$OFFSET, value);
    }

    public static final long hop_limit$OFFSET = LAYOUT.byteOffset(groupElement("hop_limit"));

    public static byte hop_limit(MemorySegment struct) {
        return struct.get(JAVA_BYTE, hop_limit$OFFSET);
    }

    public static void hop_limit(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, hop_limit$OFFSET, value);
    }

    public static final long sgid$OFFSET = LAYOUT.byteOffset(groupElement("sgid"));

    /** A view of the {@code sgid} member. */
    public static MemorySegment sgid(MemorySegment struct) {
        return struct.asSlice(sgid$OFFSET, ibv_gid.LAYOUT);
    }

    public static final long dgid$OFFSET = LAYOUT.byteOffset(groupElement("dgid"));

    /** A view of the {@code dgid} member. */
    public static MemorySegment dgid(MemorySegment struct) {
        return struct.asSlice(dgid$OFFSET, ibv_gid.LAYOUT);
    }
}
