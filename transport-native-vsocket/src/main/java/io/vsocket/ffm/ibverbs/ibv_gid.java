package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code union ibv_gid}: a 128-bit GID, raw or as subnet prefix and interface id.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_gid {
    private ibv_gid() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.unionLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("raw"),
            MemoryLayout.structLayout(JAVA_LONG.withName("subnet_prefix"), JAVA_LONG.withName("interface_id")).withName("global")).withName("ibv_gid");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long raw$OFFSET = LAYOUT.byteOffset(groupElement("raw"));
    /** The {@code raw} member's layout, selected once (a view per call would select it again). */
    public static final MemoryLayout raw$LAYOUT = LAYOUT.select(groupElement("raw"));

    /** A view of the {@code raw} member. */
    public static MemorySegment raw(MemorySegment struct) {
        return struct.asSlice(raw$OFFSET, raw$LAYOUT);
    }

    public static final long global_subnet_prefix$OFFSET = LAYOUT.byteOffset(groupElement("global"), groupElement("subnet_prefix"));

    public static long global_subnet_prefix(MemorySegment struct) {
        return struct.get(JAVA_LONG, global_subnet_prefix$OFFSET);
    }

    public static void global_subnet_prefix(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, global_subnet_prefix$OFFSET, value);
    }

    public static final long global_interface_id$OFFSET = LAYOUT.byteOffset(groupElement("global"), groupElement("interface_id"));

    public static long global_interface_id(MemorySegment struct) {
        return struct.get(JAVA_LONG, global_interface_id$OFFSET);
    }

    public static void global_interface_id(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, global_interface_id$OFFSET, value);
    }
}
