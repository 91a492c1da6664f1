package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct nlmsghdr}, the header of every netlink message.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class nlmsghdr {
    private nlmsghdr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("nlmsg_len"),
            JAVA_SHORT.withName("nlmsg_type"),
            JAVA_SHORT.withName("nlmsg_flags"),
            JAVA_INT.withName("nlmsg_seq"),
            JAVA_INT.withName("nlmsg_pid")).withName("nlmsghdr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long nlmsg_len$OFFSET = LAYOUT.byteOffset(groupElement("nlmsg_len"));

    public static int nlmsg_len(MemorySegment struct) {
        return struct.get(JAVA_INT, nlmsg_len$OFFSET);
    }

    public static void nlmsg_len(MemorySegment struct, int value) {
        struct.set(JAVA_INT, nlmsg_len$OFFSET, value);
    }

    public static final long nlmsg_type$OFFSET = LAYOUT.byteOffset(groupElement("nlmsg_type"));

    public static short nlmsg_type(MemorySegment struct) {
        return struct.get(JAVA_SHORT, nlmsg_type$OFFSET);
    }

    public static void nlmsg_type(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, nlmsg_type$OFFSET, value);
    }

    public static final long nlmsg_flags$OFFSET = LAYOUT.byteOffset(groupElement("nlmsg_flags"));

    public static short nlmsg_flags(MemorySegment struct) {
        return struct.get(JAVA_SHORT, nlmsg_flags$OFFSET);
    }

    public static void nlmsg_flags(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, nlmsg_flags$OFFSET, value);
    }

    public static final long nlmsg_seq$OFFSET = LAYOUT.byteOffset(groupElement("nlmsg_seq"));

    public static int nlmsg_seq(MemorySegment struct) {
        return struct.get(JAVA_INT, nlmsg_seq$OFFSET);
    }

    public static void nlmsg_seq(MemorySegment struct, int value) {
        struct.set(JAVA_INT, nlmsg_seq$OFFSET, value);
    }

    public static final long nlmsg_pid$OFFSET = LAYOUT.byteOffset(groupElement("nlmsg_pid"));

    public static int nlmsg_pid(MemorySegment struct) {
        return struct.get(JAVA_INT, nlmsg_pid$OFFSET);
    }

    public static void nlmsg_pid(MemorySegment struct, int value) {
        struct.set(JAVA_INT, nlmsg_pid$OFFSET, value);
    }
}
