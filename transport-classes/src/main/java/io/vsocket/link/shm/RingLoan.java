package io.vsocket.link.shm;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import io.netty.util.ResourceLeakTracker;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/**
 * Bytes of a receive ring handed to the pipeline as they lie, instead of copied out: a direct
 * buffer over that stretch of the shared ring, all of it readable. While the stretch is on loan the
 * peer writes around it (the ring's owner announces it as a hole). The stretch goes back exactly
 * once: when the buffer is released (on any thread), when it grows or shrinks (its bytes then move
 * to memory of their own, as a cumulating decoder's do), or, for a buffer dropped without a
 * release, when the collector finds it — and Netty's leak detector reports that one as it would
 * any leaked buffer.
 */
final class RingLoan extends UnpooledDirectByteBuf {
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "vsocket-ring-loans");
        t.setDaemon(true);
        return t;
    });
    private static final ResourceLeakDetector<RingLoan> LEAKS =
            ResourceLeakDetectorFactory.instance().newResourceLeakDetector(RingLoan.class);

    private final Cleaner.Cleanable stretch;
    private final ResourceLeakTracker<RingLoan> leak;

    /**
     * {@code stretch} must be a buffer of its own over the lent bytes (not a slice of a larger view):
     * every view taken of this loan ({@code nioBuffer()} included) refers back to it, so the collector
     * gives the stretch back only once no view of it is left, not merely once this object is gone.
     * {@code giveBack} returns the stretch to its ring; it must hold neither this buffer nor the stretch.
     */
    RingLoan(ByteBufAllocator alloc, ByteBuffer stretch, Runnable giveBack) {
        // Given memory: never freed by the superclass, and all of it readable.
        super(alloc, stretch, Integer.MAX_VALUE);
        this.stretch = CLEANER.register(stretch, giveBack);
        this.leak = LEAKS.track(this);
    }

    @Override
    public ByteBuf touch(Object hint) {
        if (leak != null) {
            leak.record(hint);
        }
        return this;
    }

    @Override
    public ByteBuf touch() {
        return touch(null);
    }

    @Override
    public ByteBuf capacity(int newCapacity) {
        int old = capacity();
        super.capacity(newCapacity);
        if (newCapacity != old) {
            stretch.clean(); // the bytes now live in memory of their own
        }
        return this;
    }

    @Override
    protected void deallocate() {
        super.deallocate();
        if (leak != null) {
            leak.close(this);
        }
        stretch.clean();
    }
}
