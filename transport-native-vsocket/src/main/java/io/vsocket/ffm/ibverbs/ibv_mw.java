package io.vsocket.ffm.ibverbs;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code struct ibv_mw}: a memory window. Only {@code rkey} is read (a type 2 window's current key).
 * <p>Offsets are proven against the installed headers by the glue's layout probe ({@code LayoutProbeTest}).
 */
@SuppressWarnings("unused")
public final class ibv_mw {
    private ibv_mw() {
    }

    public static final GroupLayout LAYOUT = MemoryLayout.structLayout(
            ADDRESS.withName("context"),
            ADDRESS.withName("pd"),
            JAVA_INT.withName("rkey"),
            JAVA_INT.withName("handle"),
            JAVA_INT.withName("type"),
            MemoryLayout.paddingLayout(4)).withName("ibv_mw");

    public static final long rkey$OFFSET = LAYOUT.byteOffset(groupElement("rkey"));

    public static int rkey(MemorySegment struct) {
        return struct.get(JAVA_INT, rkey$OFFSET);
    }
}
