package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct sockaddr_in6}; port and address in network byte order. vsocket uses IPv6
 * sockets throughout and writes IPv4 addresses v4-mapped, as Netty's epoll transport does.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class sockaddr_in6 {
    private sockaddr_in6() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sin6_family"),
            JAVA_SHORT.withName("sin6_port"),
            JAVA_INT.withName("sin6_flowinfo"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("sin6_addr"),
            JAVA_INT.withName("sin6_scope_id")).withName("sockaddr_in6");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long sin6_family$OFFSET = LAYOUT.byteOffset(groupElement("sin6_family"));

    public static short sin6_family(MemorySegment struct) {
        return struct.get(JAVA_SHORT, sin6_family$OFFSET);
    }

    public static void sin6_family(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sin6_family$OFFSET, value);
    }

    public static final long sin6_port$OFFSET = LAYOUT.byteOffset(groupElement("sin6_port"));

    public static short sin6_port(MemorySegment struct) {
        return struct.get(JAVA_SHORT, sin6_port$OFFSET);
    }

    public static void sin6_port(MemorySegment struct, short value) {
        struct.set(JAVA_SHORT, sin6_port$OFFSET, value);
    }

    public static final long sin6_flowinfo$OFFSET = LAYOUT.byteOffset(groupElement("sin6_flowinfo"));

    public static int sin6_flowinfo(MemorySegment struct) {
        return struct.get(JAVA_INT, sin6_flowinfo$OFFSET);
    }

    public static void sin6_flowinfo(MemorySegment struct, int value) {
        struct.set(JAVA_INT, sin6_flowinfo$OFFSET, value);
    }

    public static final long sin6_addr$OFFSET = LAYOUT.byteOffset(groupElement("sin6_addr"));
    /** The {@code sin6_addr} member's layout, selected once (a view per call would select it again). */
    public static final MemoryLayout sin6_addr$LAYOUT = LAYOUT.select(groupElement("sin6_addr"));

    /** A view of the {@code sin6_addr} member. */
    public static MemorySegment sin6_addr(MemorySegment struct) {
        return struct.asSlice(sin6_addr$OFFSET, sin6_addr$LAYOUT);
    }

    public static final long sin6_scope_id$OFFSET = LAYOUT.byteOffset(groupElement("sin6_scope_id"));

    public static int sin6_scope_id(MemorySegment struct) {
        return struct.get(JAVA_INT, sin6_scope_id$OFFSET);
    }

    public static void sin6_scope_id(MemorySegment struct, int value) {
        struct.set(JAVA_INT, sin6_scope_id$OFFSET, value);
    }
}
