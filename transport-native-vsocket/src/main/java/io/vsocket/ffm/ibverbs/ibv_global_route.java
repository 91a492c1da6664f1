package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_global_route}: the GRH part of an address vector.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_global_route {
    private ibv_global_route() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ibv_gid.LAYOUT.withName("dgid"),
            JAVA_INT.withName("flow_label"),
            JAVA_BYTE.withName("sgid_index"),
            JAVA_BYTE.withName("hop_limit"),
            JAVA_BYTE.withName("traffic_class"),
            MemoryLayout.paddingLayout(1)).withName("ibv_global_route");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long dgid$OFFSET = LAYOUT.byteOffset(groupElement("dgid"));

    /** A view of the {@code dgid} member. */
    public static MemorySegment dgid(MemorySegment struct) {
        return struct.asSlice(dgid$OFFSET, ibv_gid.LAYOUT);
    }

    public static final long flow_label$OFFSET = LAYOUT.byteOffset(groupElement("flow_label"));

    public static int flow_label(MemorySegment struct) {
        return struct.get(JAVA_INT, flow_label$OFFSET);
    }

    public static void flow_label(MemorySegment struct, int value) {
        struct.set(JAVA_INT, flow_label$OFFSET, value);
    }

    public static final long sgid_index$OFFSET = LAYOUT.byteOffset(groupElement("sgid_index"));

    public static byte sgid_index(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sgid_index$OFFSET);
    }

    public static void sgid_index(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sgid_index$OFFSET, value);
    }

    public static final long hop_limit$OFFSET = LAYOUT.byteOffset(groupElement("hop_limit"));

    public static byte hop_limit(MemorySegment struct) {
        return struct.get(JAVA_BYTE, hop_limit$OFFSET);
    }

    public static void hop_limit(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, hop_limit$OFFSET, value);
    }

    public static final long traffic_class$OFFSET = LAYOUT.byteOffset(groupElement("traffic_class"));

    public static byte traffic_class(MemorySegment struct) {
        return struct.get(JAVA_BYTE, traffic_class$OFFSET);
    }

    public static void traffic_class(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, traffic_class$OFFSET, value);
    }
}
