package io.vsocket.channel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread native scratch memory for reads whose bytes are thrown away or copied at once (the
 * control connection, the hello). Never freed: one small segment per event-loop thread.
 */
final class Scratch {
    private Scratch() {
    }

    static final int SIZE = 4096;
    private static final ThreadLocal<MemorySegment> SEGMENT = ThreadLocal.withInitial(() -> Arena.global().allocate(SIZE));

    static MemorySegment segment() {
        return SEGMENT.get();
    }

    static long address() {
        return SEGMENT.get().address();
    }
}
