package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct inet_diag_req_v2}, a {@code SOCK_DIAG_BY_FAMILY} request; with {@code NLM_F_REQUEST} alone (no dump) it looks up the one socket its {@code id} names.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class inet_diag_req_v2 {
    private inet_diag_req_v2() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_BYTE.withName("sdiag_family"),
            JAVA_BYTE.withName("sdiag_protocol"),
            JAVA_BYTE.withName("idiag_ext"),
            JAVA_BYTE.withName("pad"),
            JAVA_INT.withName("idiag_states"),
            inet_diag_sockid.LAYOUT.withName("id")).withName("inet_diag_req_v2");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long sdiag_family$OFFSET = LAYOUT.byteOffset(groupElement("sdiag_family"));

    public static byte sdiag_family(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sdiag_family$OFFSET);
    }

    public static void sdiag_family(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sdiag_family$OFFSET, value);
    }

    public static final long sdiag_protocol$OFFSET = LAYOUT.byteOffset(groupElement("sdiag_protocol"));

    public static byte sdiag_protocol(MemorySegment struct) {
        return struct.get(JAVA_BYTE, sdiag_protocol$OFFSET);
    }

    public static void sdiag_protocol(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, sdiag_protocol$OFFSET, value);
    }

    public static final long idiag_ext$OFFSET = LAYOUT.byteOffset(groupElement("idiag_ext"));

    public static byte idiag_ext(MemorySegment struct) {
        return struct.get(JAVA_BYTE, idiag_ext$OFFSET);
    }

    public static void idiag_ext(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, idiag_ext$OFFSET, value);
    }

    public static final long pad$OFFSET = LAYOUT.byteOffset(groupElement("pad"));

    public static byte pad(MemorySegment struct) {
        return struct.get(JAVA_BYTE, pad$OFFSET);
    }

    public static void pad(MemorySegment struct, byte value) {
        struct.set(JAVA_BYTE, pad$OFFSET, value);
    }

    public static final long idiag_states$OFFSET = LAYOUT.byteOffset(groupElement("idiag_states"));

    public static int idiag_states(MemorySegment struct) {
        return struct.get(JAVA_INT, idiag_states$OFFSET);
    }

    public static void idiag_states(MemorySegment struct, int value) {
        struct.set(JAVA_INT, idiag_states$OFFSET, value);
    }

    public static final long id$OFFSET = LAYOUT.byteOffset(groupElement("id"));

    public static MemorySegment id(MemorySegment struct) {
        return struct.asSlice(id$OFFSET, LAYOUT.select(groupElement("id")).byteSize());
    }
}
