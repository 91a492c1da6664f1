package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct ibv_qp_cap}: work request and scatter/gather limits of a queue pair.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_qp_cap {
    private ibv_qp_cap() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("max_send_wr"),
            JAVA_INT.withName("max_recv_wr"),
            JAVA_INT.withName("max_send_sge"),
            JAVA_INT.withName("max_recv_sge"),
            JAVA_INT.withName("max_inline_data")).withName("ibv_qp_cap");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long max_send_wr$OFFSET = LAYOUT.byteOffset(groupElement("max_send_wr"));

    public static int max_send_wr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_send_wr$OFFSET);
    }

    public static void max_send_wr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_send_wr$OFFSET, value);
    }

    public static final long max_recv_wr$OFFSET = LAYOUT.byteOffset(groupElement("max_recv_wr"));

    public static int max_recv_wr(MemorySegment struct) {
        return struct.get(JAVA_INT, max_recv_wr$OFFSET);
    }

    public static void max_recv_wr(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_recv_wr$OFFSET, value);
    }

    public static final long max_send_sge$OFFSET = LAYOUT.byteOffset(groupElement("max_send_sge"));

    public static int max_send_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, max_send_sge$OFFSET);
    }

    public static void max_send_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_send_sge$OFFSET, value);
    }

    public static final long max_recv_sge$OFFSET = LAYOUT.byteOffset(groupElement("max_recv_sge"));

    public static int max_recv_sge(MemorySegment struct) {
        return struct.get(JAVA_INT, max_recv_sge$OFFSET);
    }

    public static void max_recv_sge(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_recv_sge$OFFSET, value);
    }

    public static final long max_inline_data$OFFSET = LAYOUT.byteOffset(groupElement("max_inline_data"));

    public static int max_inline_data(MemorySegment struct) {
        return struct.get(JAVA_INT, max_inline_data$OFFSET);
    }

    public static void max_inline_data(MemorySegment struct, int value) {
        struct.set(JAVA_INT, max_inline_data$OFFSET, value);
    }
}
