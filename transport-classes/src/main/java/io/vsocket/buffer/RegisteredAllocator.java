package io.vsocket.buffer;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * The allocator of vsocket channels on a machine with an RDMA device: direct buffers of
 * {@link #MIN_REGISTERED} bytes up to {@link RegisteredMemory#MAX_SLOT} come from
 * {@link RegisteredMemory}, so the rdma link sends them without copying them; everything else (heap
 * buffers, small or larger buffers, anything past the pool's limit) comes from the fallback
 * allocator, Netty's default, and is copied into the link's registered staging ring when sent, as
 * every buffer is on the other links.
 */
public final class RegisteredAllocator extends AbstractByteBufAllocator {
    /**
     * Smaller buffers are copied rather than sent in place: a copy of a few hundred bytes costs less
     * than the signalled completion that tells when the device is done with a buffer.
     */
    public static final int MIN_REGISTERED = 1024;

    private final RegisteredMemory pool;
    private final ByteBufAllocator fallback;

    public RegisteredAllocator(RegisteredMemory pool, ByteBufAllocator fallback) {
        super(true);
        this.pool = pool;
        this.fallback = fallback;
    }

    private static final class Shared {
        static final RegisteredAllocator INSTANCE = new RegisteredAllocator(RegisteredMemory.shared(),
                ByteBufAllocator.DEFAULT);
    }

    /** The process-wide one, on {@link RegisteredMemory#shared()}. */
    public static RegisteredAllocator shared() {
        return Shared.INSTANCE;
    }

    public RegisteredMemory pool() {
        return pool;
    }

    @Override
    protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
        return fallback.heapBuffer(initialCapacity, maxCapacity);
    }

    @Override
    protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
        if (initialCapacity >= MIN_REGISTERED && initialCapacity <= RegisteredMemory.MAX_SLOT) {
            RegisteredMemory.Slot slot = pool.take(initialCapacity);
            if (slot != null) {
                return new RegisteredByteBuf(this, pool, slot, maxCapacity);
            }
        }
        return fallback.directBuffer(initialCapacity, maxCapacity);
    }

    @Override
    public boolean isDirectBufferPooled() {
        return true;
    }
}
