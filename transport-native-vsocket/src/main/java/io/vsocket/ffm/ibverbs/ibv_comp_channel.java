package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * The leading fields of {@code struct ibv_comp_channel} (owned by libibverbs; read only).
 * <p>Only the leading fields vsocket reads are laid out; the struct is larger and never allocated
 * from Java.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_comp_channel {
    private ibv_comp_channel() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            JAVA_INT.withName("fd")).withName("ibv_comp_channel");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static final long context$OFFSET = LAYOUT.byteOffset(groupElement("context"));

    public static MemorySegment context(MemorySegment struct) {
        return struct.get(ADDRESS, context$OFFSET);
    }

    public static void context(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, context$OFFSET, value);
    }

    public static final long fd$OFFSET = LAYOUT.byteOffset(groupElement("fd"));

    public static int fd(MemorySegment struct) {
        return struct.get(JAVA_INT, fd$OFFSET);
    }

    public static void fd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, fd$OFFSET, value);
    }
}
