package io.vsocket.link.shm;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;

import java.nio.ByteBuffer;

/**
 * Bytes of a receive ring handed to the pipeline as they lie, instead of copied out: a direct
 * buffer over that stretch of the shared ring, all of it readable. While it lives the peer writes
 * around it (the ring's owner announced it as a hole); releasing it, on any thread, gives the
 * stretch back. Writable and growable as any inbound buffer: growing moves the bytes to ordinary
 * direct memory, and the stretch still goes back only on release.
 */
final class RingLoan extends UnpooledDirectByteBuf {
    private final ShmLink owner;
    /** Where the loan starts in the stream (the receive cursor's position when it was lent). */
    final long start;
    final int length;
    /**
     * The next stream position that falls on this loan's bytes one lap later: the writer must skip
     * [nextLap, nextLap + length) while the loan lives. Event-loop thread only.
     */
    long nextLap;

    RingLoan(ByteBufAllocator alloc, ShmLink owner, ByteBuffer stretch, long start, int capacity) {
        // Given memory: never freed by the superclass, and all of it readable.
        super(alloc, stretch, Integer.MAX_VALUE);
        this.owner = owner;
        this.start = start;
        this.length = stretch.remaining();
        this.nextLap = start + capacity;
    }

    @Override
    protected void deallocate() {
        super.deallocate();
        owner.loanReturned(this);
    }
}
