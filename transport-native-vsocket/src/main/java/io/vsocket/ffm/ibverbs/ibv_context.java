package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * The leading fields of {@code struct ibv_context} (owned by libibverbs; read only).
 * <p>Only the leading fields vsocket reads are laid out; the struct is larger and never allocated
 * from Java.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_context {
    private ibv_context() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("device"),
            MemoryLayout.paddingLayout(256),
            JAVA_INT.withName("cmd_fd"),
            JAVA_INT.withName("async_fd"),
            JAVA_INT.withName("num_comp_vectors")).withName("ibv_context");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static final long device$OFFSET = LAYOUT.byteOffset(groupElement("device"));

    public static MemorySegment device(MemorySegment struct) {
        return struct.get(ADDRESS, device$OFFSET);
    }

    public static void device(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, device$OFFSET, value);
    }

    public static final long cmd_fd$OFFSET = LAYOUT.byteOffset(groupElement("cmd_fd"));

    public static int cmd_fd(MemorySegment struct) {
        return struct.get(JAVA_INT, cmd_fd$OFFSET);
    }

    public static void cmd_fd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, cmd_fd$OFFSET, value);
    }

    public static final long async_fd$OFFSET = LAYOUT.byteOffset(groupElement("async_fd"));

    public static int async_fd(MemorySegment struct) {
        return struct.get(JAVA_INT, async_fd$OFFSET);
    }

    public static void async_fd(MemorySegment struct, int value) {
        struct.set(JAVA_INT, async_fd$OFFSET, value);
    }

    public static final long num_comp_vectors$OFFSET = LAYOUT.byteOffset(groupElement("num_comp_vectors"));

    public static int num_comp_vectors(MemorySegment struct) {
        return struct.get(JAVA_INT, num_comp_vectors$OFFSET);
    }

    public static void num_comp_vectors(MemorySegment struct, int value) {
        struct.set(JAVA_INT, num_comp_vectors$OFFSET, value);
    }
}
