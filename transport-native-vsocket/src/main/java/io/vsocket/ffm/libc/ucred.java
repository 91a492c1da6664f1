package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ucred}, for {@code SO_PEERCRED}: the peer's pid, uid and gid when it connected.
 * {@code uid_t} and {@code gid_t} are unsigned in C; they are held as {@code int} here.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ucred {
    private ucred() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("pid"),
            JAVA_INT.withName("uid"),
            JAVA_INT.withName("gid")).withName("ucred");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long pid$OFFSET = LAYOUT.byteOffset(groupElement("pid"));

    public static int pid(MemorySegment struct) {
        return struct.get(JAVA_INT, pid$OFFSET);
    }

    public static void pid(MemorySegment struct, int value) {
        struct.set(JAVA_INT, pid$OFFSET, value);
    }

    public static final long uid$OFFSET = LAYOUT.byteOffset(groupElement("uid"));

    public static int uid(MemorySegment struct) {
        return struct.get(JAVA_INT, uid$OFFSET);
    }

    public static void uid(MemorySegment struct, int value) {
        struct.set(JAVA_INT, uid$OFFSET, value);
    }

    public static final long gid$OFFSET = LAYOUT.byteOffset(groupElement("gid"));

    public static int gid(MemorySegment struct) {
        return struct.get(JAVA_INT, gid$OFFSET);
    }

    public static void gid(MemorySegment struct, int value) {
        struct.set(JAVA_INT, gid$OFFSET, value);
    }
}
