package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct inet_diag_msg}, the kernel's answer about one socket; {@code idiag_inode} is 0 for a socket no process holds (closed, or its process ended, while the kernel still sends what it had).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class inet_diag_msg {
    private inet_diag_msg() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_BYTE.withName("idiag_family"),
            JAVA_BYTE.withName("idiag_state"),
            JAVA_BYTE.withName("idiag_timer"),
            JAVA_BYTE.withName("idiag_retrans"),
            inet_diag_sockid.LAYOUT.withName("id"),
            JAVA_INT.withName("idiag_expires"),
            JAVA_INT.withName("idiag_rqueue"),
            JAVA_INT.withName("idiag_wqueue"),
            JAVA_INT.withName("idiag_uid"),
            JAVA_INT.withName("idiag_inode")).withName("inet_diag_msg");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long idiag_family$OFFSET = LAYOUT.byteOffset(groupElement("idiag_family"));

    public static byte idiag_family(MemorySegment struct) {
        return struct.get(JAVA_BYTE, idiag_family$OFFSET);
    }

    public static void idiag_family(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, idiag_family$OFFSET, value);
    }

    public static final long idiag_state$OFFSET = LAYOUT.byteOffset(groupElement("idiag_state"));

    public static byte idiag_state(MemorySegment struct) {
        return struct.get(JAVA_BYTE, idiag_state$OFFSET);
    }

    public static void idiag_state(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, idiag_state$OFFSET, value);
    }

    public static final long idiag_timer$OFFSET = LAYOUT.byteOffset(groupElement("idiag_timer"));

    public static byte idiag_timer(MemorySegment struct) {
        return struct.get(JAVA_BYTE, idiag_timer$OFFSET);
    }

    public static void idiag_timer(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, idiag_timer$OFFSET, value);
    }

    public static final long idiag_retrans$OFFSET = LAYOUT.byteOffset(groupElement("idiag_retrans"));

    public static byte idiag_retrans(MemorySegment struct) {
        return struct.get(JAVA_BYTE, idiag_retrans$OFFSET);
    }

    public static void idiag_retrans(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, idiag_retrans$OFFSET, value);
    }

    public static final long id$OFFSET = LAYOUT.byteOffset(groupElement("id"));

    public static MemorySegment id(MemorySegment struct) {
        return struct.asSlice(id$OFFSET, LAYOUT.select(groupElement("id")).byteSize());
    }

    public static final long idiag_expires$OFFSET = LAYOUT.byteOffset(groupElement("idiag_expires"));

    public static int idiag_expires(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_expires$OFFSET);
    }

    public static void idiag_expires(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_expires$OFFSET, value);
    }

    public static final long idiag_rqueue$OFFSET = LAYOUT.byteOffset(groupElement("idiag_rqueue"));

    public static int idiag_rqueue(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_rqueue$OFFSET);
    }

    public static void idiag_rqueue(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_rqueue$OFFSET, value);
    }

    public static final long idiag_wqueue$OFFSET = LAYOUT.byteOffset(groupElement("idiag_wqueue"));

    public static int idiag_wqueue(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_wqueue$OFFSET);
    }

    public static void idiag_wqueue(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_wqueue$OFFSET, value);
    }

    public static final long idiag_uid$OFFSET = LAYOUT.byteOffset(groupElement("idiag_uid"));

    public static int idiag_uid(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_uid$OFFSET);
    }

    public static void idiag_uid(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_uid$OFFSET, value);
    }

    public static final long idiag_inode$OFFSET = LAYOUT.byteOffset(groupElement("idiag_inode"));

    public static int idiag_inode(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_inode$OFFSET);
    }

    public static void idiag_inode(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_inode$OFFSET, value);
    }
}
