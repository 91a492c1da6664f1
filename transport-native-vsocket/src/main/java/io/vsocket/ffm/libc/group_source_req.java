package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code struct group_source_req} (RFC 3678, {@code MCAST_JOIN_SOURCE_GROUP}, {@code MCAST_BLOCK_SOURCE}
 * and their inverses): an interface index, a group and a source, each address in a
 * {@code struct sockaddr_storage}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class group_source_req {
    private group_source_req() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("gsr_interface"),
            MemoryLayout.paddingLayout(4),
            MemoryLayout.sequenceLayout(group_req.SOCKADDR_STORAGE, JAVA_BYTE).withName("gsr_group"),
            MemoryLayout.sequenceLayout(group_req.SOCKADDR_STORAGE, JAVA_BYTE).withName("gsr_source"))
            .withName("group_source_req");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long gsr_interface$OFFSET = LAYOUT.byteOffset(groupElement("gsr_interface"));

    public static void gsr_interface(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gsr_interface$OFFSET, value);
    }

    public static final long gsr_group$OFFSET = LAYOUT.byteOffset(groupElement("gsr_group"));

    /** A view of the {@code gsr_group} member. */
    public static MemorySegment gsr_group(MemorySegment struct) {
        return struct.asSlice(gsr_group$OFFSET, group_req.SOCKADDR_STORAGE);
    }

    public static final long gsr_source$OFFSET = LAYOUT.byteOffset(groupElement("gsr_source"));

    /** A view of the {@code gsr_source} member. */
    public static MemorySegment gsr_source(MemorySegment struct) {
        return struct.asSlice(gsr_source$OFFSET, group_req.SOCKADDR_STORAGE);
    }
}
