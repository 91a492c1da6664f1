package io.vsocket.link;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread native scratch memory for reads whose bytes are thrown away or copied at once (the
 * control connection, the hello). Never freed: one small segment per event-loop thread.
 */
public final class Scratch {
    private Scratch() {
    }

    public static final int SIZE = 4096;
    private static final ThreadLocal<MemorySegment> SEGMENT = ThreadLocal.withInitial(() -> Arena.global().allocate(SIZE));

    public static MemorySegment segment() {
        return SEGMENT.get();
    }

    public static long address() {
        return SEGMENT.get().address();
    }
}
