package io.vsocket.buffer;

import io.netty.buffer.UnpooledDirectByteBuf;

/**
 * A direct buffer on a slot of {@link RegisteredMemory}: its capacity is the slot's (at least what
 * was asked, at most the buffer's maximum). Growing past it moves the bytes to ordinary direct
 * memory, as an unpooled buffer would (they are copied when sent then); the slot goes back when the
 * buffer is released either way. It builds on Netty's plain direct buffer, not the Unsafe one: Netty
 * runs without {@code sun.misc.Unsafe} on recent JDKs, and the Unsafe buffer does not.
 */
final class RegisteredByteBuf extends UnpooledDirectByteBuf {
    private final RegisteredMemory pool;
    private final RegisteredMemory.Slot slot;

    RegisteredByteBuf(RegisteredAllocator alloc, RegisteredMemory pool, RegisteredMemory.Slot slot, int maxCapacity) {
        // The slot's view is never freed by the superclass (a buffer it was given, not one it allocated).
        super(alloc, slot.memory.duplicate().clear().limit(Math.min(slot.memory.capacity(), maxCapacity)), maxCapacity);
        this.pool = pool;
        this.slot = slot;
        clear(); // a buffer built on given memory starts with all of it readable; a new one starts empty
    }

    @Override
    protected void deallocate() {
        super.deallocate();
        pool.give(slot);
    }
}
