package io.vsocket.ffm.glue;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct vs_layout_entry}: one row of the glue's layout probe.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class vs_layout_entry {
    private vs_layout_entry() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("name"),
            JAVA_LONG.withName("value")).withName("vs_layout_entry");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long name$OFFSET = LAYOUT.byteOffset(groupElement("name"));

    public static MemorySegment name(MemorySegment struct) {
        return struct.get(ADDRESS, name$OFFSET);
    }

    public static void name(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, name$OFFSET, value);
    }

    public static final long value$OFFSET = LAYOUT.byteOffset(groupElement("value"));

    public static long value(MemorySegment struct) {
        return struct.get(JAVA_LONG, value$OFFSET);
    }

    public static void value(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, value$OFFSET, value);
    }
}
