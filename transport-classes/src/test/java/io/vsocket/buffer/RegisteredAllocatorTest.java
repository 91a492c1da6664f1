package io.vsocket.buffer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The registered pool without a device: which requests it serves, slots going back on release
 * (from any thread) and being reused, the limit, growth out of a slot, and the address lookup the
 * rdma link uses to find a buffer's registration.
 */
class RegisteredAllocatorTest {
    private static final UnpooledByteBufAllocator FALLBACK = new UnpooledByteBufAllocator(true);

    private static RegisteredAllocator allocator(long limit) {
        return new RegisteredAllocator(new RegisteredMemory(limit), FALLBACK);
    }

    private static boolean registered(RegisteredAllocator alloc, ByteBuf buf) {
        return alloc.pool().chunkOf(MemorySegment.ofBuffer(buf.internalNioBuffer(0, buf.capacity())).address(),
                buf.capacity()) >= 0;
    }

    private static long address(ByteBuf buf) {
        return MemorySegment.ofBuffer(buf.internalNioBuffer(0, 1)).address();
    }

    @Test
    void servesDirectBuffersFromOneKibToTheLargestSlot() {
        RegisteredAllocator alloc = allocator(64 << 20);
        ByteBuf small = alloc.directBuffer(512);
        ByteBuf heap = alloc.heapBuffer(8192);
        ByteBuf large = alloc.directBuffer(RegisteredMemory.MAX_SLOT + 1);
        ByteBuf kib = alloc.directBuffer(RegisteredAllocator.MIN_REGISTERED);
        ByteBuf top = alloc.directBuffer(RegisteredMemory.MAX_SLOT);
        ByteBuf io = alloc.ioBuffer(65536);
        try {
            assertFalse(registered(alloc, small), "a small buffer is copied when sent: it comes from the fallback");
            assertFalse(heap.isDirect());
            assertFalse(registered(alloc, large));
            assertTrue(registered(alloc, kib));
            assertTrue(registered(alloc, top));
            assertTrue(registered(alloc, io));
            assertEquals(4096, kib.capacity(), "capacity is the size class's");
            assertEquals(0, kib.readableBytes(), "a new buffer is empty");
            assertEquals(0, kib.writerIndex());
            assertEquals(RegisteredMemory.MAX_SLOT, top.capacity());
            assertSame(alloc, kib.alloc());
            assertEquals(3, alloc.pool().chunkCount(), "one chunk per size class used (4 KiB, 64 KiB, 256 KiB)");
        } finally {
            for (ByteBuf b : List.of(small, heap, large, kib, top, io)) {
                b.release();
            }
        }
    }

    @Test
    void capacityNeverPassesTheMaximumAsked() {
        RegisteredAllocator alloc = allocator(64 << 20);
        ByteBuf buf = alloc.directBuffer(3000, 3000);
        try {
            assertEquals(3000, buf.capacity());
            assertEquals(3000, buf.maxCapacity());
            assertTrue(registered(alloc, buf));
        } finally {
            buf.release();
        }
    }

    @Test
    void releasedSlotsAreReusedAndNoneIsLost() {
        RegisteredAllocator alloc = allocator(64 << 20);
        RegisteredMemory pool = alloc.pool();
        ByteBuf first = alloc.directBuffer(16384);
        long address = address(first);
        int freeWhileHeld = pool.freeSlots(16384);
        first.writeLong(42);
        first.release();
        assertEquals(freeWhileHeld + 1, pool.freeSlots(16384), "the slot went back");
        int slots = RegisteredMemory.CHUNK_SIZE / 16384;
        List<ByteBuf> all = new ArrayList<>();
        Set<Long> addresses = new HashSet<>();
        for (int i = 0; i < slots; i++) {
            ByteBuf b = alloc.directBuffer(16384);
            all.add(b);
            addresses.add(address(b));
        }
        assertEquals(slots, addresses.size(), "every slot is handed out once");
        assertTrue(addresses.contains(address), "the released slot was reused");
        assertEquals(1, pool.chunkCount(), "one chunk held them all");
        all.forEach(ByteBuf::release);
        assertEquals(slots, pool.freeSlots(16384));
    }

    @Test
    void buffersReleasedOnOtherThreadsGoBack() throws Exception {
        RegisteredAllocator alloc = allocator(64 << 20);
        List<ByteBuf> bufs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            bufs.add(alloc.directBuffer(4096 << (i % 3)));
        }
        ExecutorService others = Executors.newFixedThreadPool(4);
        try {
            for (ByteBuf b : bufs) {
                others.execute(b::release);
            }
        } finally {
            others.shutdown();
            assertTrue(others.awaitTermination(10, TimeUnit.SECONDS));
        }
        int chunks = alloc.pool().chunkCount();
        for (int size : new int[] {4096, 8192, 16384}) {
            assertEquals(RegisteredMemory.CHUNK_SIZE / size, alloc.pool().freeSlots(size), size + " B slots all free");
        }
        ByteBuf again = alloc.directBuffer(4096);
        again.release();
        assertEquals(chunks, alloc.pool().chunkCount(), "reused, not grown");
    }

    @Test
    void pastTheLimitBuffersComeFromTheFallback() {
        RegisteredAllocator alloc = allocator(RegisteredMemory.CHUNK_SIZE);
        int slots = RegisteredMemory.CHUNK_SIZE / RegisteredMemory.MAX_SLOT;
        List<ByteBuf> held = new ArrayList<>();
        try {
            for (int i = 0; i < slots; i++) {
                held.add(alloc.directBuffer(RegisteredMemory.MAX_SLOT));
                assertTrue(registered(alloc, held.get(i)));
            }
            ByteBuf over = alloc.directBuffer(RegisteredMemory.MAX_SLOT);
            held.add(over);
            assertFalse(registered(alloc, over), "the limit is reached: the fallback serves it");
            ByteBuf otherClass = alloc.directBuffer(4096);
            held.add(otherClass);
            assertFalse(registered(alloc, otherClass), "no new chunk for another class either");
            assertEquals(1, alloc.pool().chunkCount());
        } finally {
            held.forEach(ByteBuf::release);
        }
    }

    @Test
    void zeroLimitServesEverythingFromTheFallback() {
        RegisteredAllocator alloc = allocator(0);
        ByteBuf buf = alloc.directBuffer(8192);
        try {
            assertFalse(registered(alloc, buf));
            assertEquals(0, alloc.pool().chunkCount());
        } finally {
            buf.release();
        }
    }

    @Test
    void growingPastTheSlotMovesOutAndStillGivesTheSlotBack() {
        RegisteredAllocator alloc = allocator(64 << 20);
        ByteBuf buf = alloc.directBuffer(4096);
        int free = alloc.pool().freeSlots(4096);
        byte[] bytes = new byte[10_000];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) (i * 31);
        }
        buf.writeBytes(bytes);
        assertFalse(registered(alloc, buf), "10,000 bytes do not fit the 4 KiB slot: ordinary memory now");
        byte[] back = new byte[bytes.length];
        buf.getBytes(0, back);
        assertEquals(-1, java.util.Arrays.mismatch(bytes, back), "the bytes moved intact");
        buf.release();
        assertEquals(free + 1, alloc.pool().freeSlots(4096));
    }

    @Test
    void addressLookupFindsOnlyRangesInsideOneChunk() {
        RegisteredMemory pool = new RegisteredMemory(64 << 20);
        RegisteredMemory.Slot a = pool.take(4096);
        RegisteredMemory.Slot b = pool.take(65536);
        long base = MemorySegment.ofBuffer(a.memory).address();
        long other = MemorySegment.ofBuffer(b.memory).address();
        int ida = pool.chunkOf(base, 4096);
        int idb = pool.chunkOf(other, 65536);
        assertTrue(ida >= 0 && idb >= 0);
        assertNotEquals(ida, idb);
        assertNotEquals(ida, pool.chunkOf(base - 1, 1), "the byte before a chunk is not in it");
        assertEquals(-1, pool.chunkOf(0x1000, 16));
        long chunkStart = base; // the first slot of a fresh chunk starts it
        assertEquals(ida, pool.chunkOf(chunkStart + RegisteredMemory.CHUNK_SIZE - 1, 1));
        assertEquals(-1, pool.chunkOf(chunkStart + RegisteredMemory.CHUNK_SIZE - 1, 2), "a range over the chunk's end");
        pool.give(a);
        pool.give(b);
        List<Integer> seen = new ArrayList<>();
        pool.addRegistrar((id, memory) -> {
            assertEquals(RegisteredMemory.CHUNK_SIZE, memory.byteSize());
            seen.add(id);
        });
        assertEquals(List.of(0, 1), seen, "a new registrar registers the chunks there are");
        pool.take(1 << 17);
        assertEquals(List.of(0, 1, 2), seen, "and each new one");
    }

    @Test
    void limitPropertyTakesSizes() {
        assertEquals(64L << 20, RegisteredMemory.parseSize("64m"));
        assertEquals(1L << 30, RegisteredMemory.parseSize("1G"));
        assertEquals(512L << 10, RegisteredMemory.parseSize(" 512k "));
        assertEquals(0, RegisteredMemory.parseSize("0"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RegisteredMemory.parseSize("lots"));
        assertTrue(e.getMessage().contains("io.vsocket.registeredMemory"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RegisteredMemory.parseSize("-1m"));
    }
}
