package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.*;

/**
 * {@code struct msghdr}, for {@code sendmsg}/{@code recvmsg}: a scatter/gather list plus an optional
 * control (ancillary data) buffer of {@link cmsghdr}s. On x86_64 {@code msg_namelen} is followed by 4
 * bytes of padding, and {@code msg_iovlen} and {@code msg_controllen} are {@code size_t}.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class msghdr {
    private msghdr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("msg_name"),
            JAVA_INT.withName("msg_namelen"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("msg_iov"),
            JAVA_LONG.withName("msg_iovlen"),
            ADDRESS.withName("msg_control"),
            JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"),
            MemoryLayout.paddingLayout(4)).withName("msghdr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate(LAYOUT);
    }

    public static final long msg_name$OFFSET = LAYOUT.byteOffset(groupElement("msg_name"));

    public static MemorySegment msg_name(MemorySegment struct) {
        return struct.get(ADDRESS, msg_name$OFFSET);
    }

    public static void msg_name(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, msg_name$OFFSET, value);
    }

    public static final long msg_namelen$OFFSET = LAYOUT.byteOffset(groupElement("msg_namelen"));

    public static int msg_namelen(MemorySegment struct) {
        return struct.get(JAVA_INT, msg_namelen$OFFSET);
    }

    public static void msg_namelen(MemorySegment struct, int value) {
        struct.set(JAVA_INT, msg_namelen$OFFSET, value);
    }

    public static final long msg_iov$OFFSET = LAYOUT.byteOffset(groupElement("msg_iov"));

    public static MemorySegment msg_iov(MemorySegment struct) {
        return struct.get(ADDRESS, msg_iov$OFFSET);
    }

    public static void msg_iov(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, msg_iov$OFFSET, value);
    }

    public static final long msg_iovlen$OFFSET = LAYOUT.byteOffset(groupElement("msg_iovlen"));

    public static long msg_iovlen(MemorySegment struct) {
        return struct.get(JAVA_LONG, msg_iovlen$OFFSET);
    }

    public static void msg_iovlen(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, msg_iovlen$OFFSET, value);
    }

    public static final long msg_control$OFFSET = LAYOUT.byteOffset(groupElement("msg_control"));

    public static MemorySegment msg_control(MemorySegment struct) {
        return struct.get(ADDRESS, msg_control$OFFSET);
    }

    public static void msg_control(MemorySegment struct, MemorySegment value) {
        struct.set(ADDRESS, msg_control$OFFSET, value);
    }

    public static final long msg_controllen$OFFSET = LAYOUT.byteOffset(groupElement("msg_controllen"));

    public static long msg_controllen(MemorySegment struct) {
        return struct.get(JAVA_LONG, msg_controllen$OFFSET);
    }

    public static void msg_controllen(MemorySegment struct, long value) {
        struct.set(JAVA_LONG, msg_controllen$OFFSET, value);
    }

    public static final long msg_flags$OFFSET = LAYOUT.byteOffset(groupElement("msg_flags"));

    public static int msg_flags(MemorySegment struct) {
        return struct.get(JAVA_INT, msg_flags$OFFSET);
    }

    public static void msg_flags(MemorySegment struct, int value) {
        struct.set(JAVA_INT, msg_flags$OFFSET, value);
    }
}
