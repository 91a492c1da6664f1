package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct inet_diag_sockid}: a socket by its ports and addresses (network byte order; an IPv4 address in the first word, or v4-mapped in an {@code AF_INET6} request).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class inet_diag_sockid {
    private inet_diag_sockid() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_SHORT.withName("idiag_sport"),
            JAVA_SHORT.withName("idiag_dport"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("idiag_src"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("idiag_dst"),
            JAVA_INT.withName("idiag_if"),
            MemoryLayout.sequenceLayout(2, JAVA_INT).withName("idiag_cookie")).withName("inet_diag_sockid");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long idiag_sport$OFFSET = LAYOUT.byteOffset(groupElement("idiag_sport"));

    public static short idiag_sport(MemorySegment struct) {
        return struct.get(JAVA_SHORT, idiag_sport$OFFSET);
    }

    public static void idiag_sport(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, idiag_sport$OFFSET, value);
    }

    public static final long idiag_dport$OFFSET = LAYOUT.byteOffset(groupElement("idiag_dport"));

    public static short idiag_dport(MemorySegment struct) {
        return struct.get(JAVA_SHORT, idiag_dport$OFFSET);
    }

    public static void idiag_dport(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, idiag_dport$OFFSET, value);
    }

    public static final long idiag_src$OFFSET = LAYOUT.byteOffset(groupElement("idiag_src"));

    public static MemorySegment idiag_src(MemorySegment struct) {
        return struct.asSlice(idiag_src$OFFSET, LAYOUT.select(groupElement("idiag_src")).byteSize());
    }

    public static final long idiag_dst$OFFSET = LAYOUT.byteOffset(groupElement("idiag_dst"));

    public static MemorySegment idiag_dst(MemorySegment struct) {
        return struct.asSlice(idiag_dst$OFFSET, LAYOUT.select(groupElement("idiag_dst")).byteSize());
    }

    public static final long idiag_if$OFFSET = LAYOUT.byteOffset(groupElement("idiag_if"));

    public static int idiag_if(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_if$OFFSET);
    }

    public static void idiag_if(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_if$OFFSET, value);
    }

    public static final long idiag_cookie$OFFSET = LAYOUT.byteOffset(groupElement("idiag_cookie"));

    public static MemorySegment idiag_cookie(MemorySegment struct) {
        return struct.asSlice(idiag_cookie$OFFSET, LAYOUT.select(groupElement("idiag_cookie")).byteSize());
    }
}
