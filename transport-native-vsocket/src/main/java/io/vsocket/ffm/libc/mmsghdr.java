package io.vsocket.ffm.libc;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code struct mmsghdr}, for {@code sendmmsg}: a {@link msghdr} and the bytes the kernel sent of it.
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class mmsghdr {
    private mmsghdr() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            msghdr.LAYOUT.withName("msg_hdr"),
            JAVA_INT.withName("msg_len"),
            MemoryLayout.paddingLayout(4)).withName("mmsghdr");

    public static long sizeof() {
        return LAYOUT.byteSize();
    }

    public static final long msg_hdr$OFFSET = LAYOUT.byteOffset(groupElement("msg_hdr"));

    /** A view of the {@code msg_hdr} member. */
    public static MemorySegment msg_hdr(MemorySegment struct) {
        return struct.asSlice(msg_hdr$OFFSET, msghdr.LAYOUT);
    }

    public static final long msg_len$OFFSET = LAYOUT.byteOffset(groupElement("msg_len"));

    public static int msg_len(MemorySegment struct) {
        return struct.get(JAVA_INT, msg_len$OFFSET);
    }
}
