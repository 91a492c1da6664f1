package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_gid_entry}, filled by {@code ibv_query_gid_ex}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_gid_entry {
    private ibv_gid_entry() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ibv_gid.LAYOUT.withName("gid"),
            JAVA_INT.withName("gid_index"),
            JAVA_INT.withName("port_num"),
            JAVA_INT.withName("gid_type"),
            JAVA_INT.withName("ndev_ifindex")).withName("ibv_gid_entry");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long gid$OFFSET = LAYOUT.byteOffset(groupElement("gid"));

    /** A view of the {@code gid} member. */
    public static MemorySegment gid(MemorySegment struct) {
        return struct.asSlice(gid$OFFSET, ibv_gid.LAYOUT);
    }

    public static final long gid_index$OFFSET = LAYOUT.byteOffset(groupElement("gid_index"));

    public static int gid_index(MemorySegment struct) {
        return struct.get(JAVA_INT, gid_index$OFFSET);
    }

    public static void gid_index(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gid_index$OFFSET, value);
    }

    public static final long port_num$OFFSET = LAYOUT.byteOffset(groupElement("port_num"));

    public static int port_num(MemorySegment struct) {
        return struct.get(JAVA_INT, port_num$OFFSET);
    }

    public static void port_num(MemorySegment struct, int value) {
        struct.set(JAVA_INT, port_num$OFFSET, value);
    }

    public static final long gid_type$OFFSET = LAYOUT.byteOffset(groupElement("gid_type"));

    public static int gid_type(MemorySegment struct) {
        return struct.get(JAVA_INT, gid_type$OFFSET);
    }

    public static void gid_type(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gid_type$OFFSET, value);
    }

    public static final long ndev_ifindex$OFFSET = LAYOUT.byteOffset(groupElement("ndev_ifindex"));

    public static int ndev_ifindex(MemorySegment struct) {
        return struct.get(JAVA_INT, ndev_ifindex$OFFSET);
    }

    public static void ndev_ifindex(MemorySegment struct, int value) {
        struct.set(JAVA_INT, ndev_ifindex$OFFSET, value);
    }
}
