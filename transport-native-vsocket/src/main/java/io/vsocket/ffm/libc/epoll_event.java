package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct epoll_event}; packed on x86_64, so {@code data} sits at offset 4.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class epoll_event {
    private epoll_event() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("events"),
            JAVA_LONG_UNALIGNED.withName("data")).withName("epoll_event");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long events$OFFSET = LAYOUT.byteOffset(groupElement("events"));

    public static int events(MemorySegment struct) {
        return struct.get(JAVA_INT, events$OFFSET);
    }

    public static void events(MemorySegment struct, int value) {
        struct.set(JAVA_INT, events$OFFSET, value);
    }

    public static final long data$OFFSET = LAYOUT.byteOffset(groupElement("data"));

    public static long data(MemorySegment struct) {
        return struct.get(JAVA_LONG_UNALIGNED, data$OFFSET);
    }

    public static void data(MemorySegment struct, long value) {
        struct.set(JAVA_LONG_UNALIGNED, data$OFFSET, value);
    }
}
