package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct nlmsgerr}, a netlink error (or acknowledgement): the negated errno, and the request it answers.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class nlmsgerr {
    private nlmsgerr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("error"),
            nlmsghdr.LAYOUT.withName("msg")).withName("nlmsgerr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long error$OFFSET = LAYOUT.byteOffset(groupElement("error"));

    public static int error(MemorySegment struct) {
        return struct.get(JAVA_INT, error$OFFSET);
    }

    public static void error(MemorySegment struct, int value) {
        struct.set(JAVA_INT, error$OFFSET, value);
    }

    public static final long msg$OFFSET = LAYOUT.byteOffset(groupElement("msg"));

    public static MemorySegment msg(MemorySegment struct) {
        return struct.asSlice(msg$OFFSET, LAYOUT.select(groupElement("msg")).byteSize());
    }
}
