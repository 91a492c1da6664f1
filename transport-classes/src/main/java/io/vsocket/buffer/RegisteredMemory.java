package io.vsocket.buffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Memory an RDMA device can send from without a copy: chunks of {@link #CHUNK_SIZE} bytes, each
 * carved into slots of one size class (4 KiB to 256 KiB, powers of two), taken and given back
 * from any thread (a short lock per size class guards a stack of free slots: last freed, first
 * reused, while its lines may still be in a cache; Agrona's lock-free queues would need
 * {@code --add-exports} from every application). Every open RDMA device registers every chunk (see
 * {@link Registrar}), once, when either appears.
 *
 * <p>Chunks are never freed while this object lives, and the process-wide one ({@link #shared()})
 * lives as long as the process: a memory registration must never outlive its memory (a freed and
 * reused range would still be pinned to the old pages, and the device would send stale bytes), and
 * keeping the chunks is how no registration can. The limit ({@code io.vsocket.registeredMemory},
 * default 64m) bounds what they hold; past it, requests are served by the fallback allocator and
 * their bytes are copied as before.
 */
public final class RegisteredMemory {
    public static final int CHUNK_SIZE = 4 << 20;
    private static final int MIN_CLASS_SHIFT = 12;
    private static final int MAX_CLASS_SHIFT = 18;
    /** The largest slot, and so the largest request served from here. */
    public static final int MAX_SLOT = 1 << MAX_CLASS_SHIFT;
    private static final long DEFAULT_LIMIT = 64L << 20;

    /** Something that registers chunks with a device (an open RDMA device, one per device). */
    public interface Registrar {
        /** Chunk {@code id} appeared (or the registrar did): register {@code memory}. Called under this pool's lock. */
        void chunkAdded(int id, MemorySegment memory);
    }

    /** One slot: a fixed piece of a chunk, owned by one buffer at a time. */
    static final class Slot {
        final ByteBuffer memory;
        final int sizeClass;

        Slot(ByteBuffer memory, int sizeClass) {
            this.memory = memory;
            this.sizeClass = sizeClass;
        }
    }

    /** Chunk bases in address order with their ids: what an address lookup searches. */
    private record Index(long[] bases, int[] ids) {
    }

    private final long limit;
    private final Arena arena = Arena.ofAuto();
    private final FreeSlots[] free;
    private final List<MemorySegment> chunks = new ArrayList<>();
    private final List<Registrar> registrars = new ArrayList<>();
    private volatile Index index = new Index(new long[0], new int[0]);

    /** The free slots of one size class. */
    private static final class FreeSlots {
        private Slot[] slots = new Slot[64];
        private int size;

        synchronized Slot poll() {
            if (size == 0) {
                return null;
            }
            Slot slot = slots[--size];
            slots[size] = null;
            return slot;
        }

        synchronized void push(Slot slot) {
            if (size == slots.length) {
                slots = Arrays.copyOf(slots, size * 2);
            }
            slots[size++] = slot;
        }

        synchronized int size() {
            return size;
        }
    }

    public RegisteredMemory(long limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("registered memory limit must not be negative: " + limit);
        }
        this.limit = limit;
        this.free = new FreeSlots[MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1];
        for (int c = 0; c < free.length; c++) {
            free[c] = new FreeSlots();
        }
    }

    private static final class Shared {
        static final RegisteredMemory INSTANCE = new RegisteredMemory(limitFromProperty());
    }

    /** The process-wide pool, limited by {@code io.vsocket.registeredMemory} (bytes, with k, m or g; 0 turns it off). */
    public static RegisteredMemory shared() {
        return Shared.INSTANCE;
    }

    static long limitFromProperty() {
        String value = System.getProperty("io.vsocket.registeredMemory");
        return value == null ? DEFAULT_LIMIT : parseSize(value);
    }

    static long parseSize(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (v.endsWith("k")) {
            unit = 1L << 10;
        } else if (v.endsWith("m")) {
            unit = 1L << 20;
        } else if (v.endsWith("g")) {
            unit = 1L << 30;
        }
        try {
            long n = Long.parseLong(unit == 1 ? v : v.substring(0, v.length() - 1));
            if (n < 0) {
                throw new NumberFormatException();
            }
            return Math.multiplyExact(n, unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("io.vsocket.registeredMemory must be a size in bytes (k, m or g "
                    + "allowed), not '" + value + "'", e);
        }
    }

    public long limit() {
        return limit;
    }

    static int slotSize(int sizeClass) {
        return 1 << (MIN_CLASS_SHIFT + sizeClass);
    }

    static int sizeClassOf(int capacity) {
        int shift = 32 - Integer.numberOfLeadingZeros(Math.max(capacity, 1) - 1);
        return Math.max(shift, MIN_CLASS_SHIFT) - MIN_CLASS_SHIFT;
    }

    /** A free slot of at least {@code capacity} bytes, or null (too large, or the limit is reached). */
    Slot take(int capacity) {
        if (capacity > MAX_SLOT || capacity < 0) {
            return null;
        }
        int c = sizeClassOf(capacity);
        Slot slot = free[c].poll();
        return slot != null ? slot : grow(c);
    }

    void give(Slot slot) {
        free[slot.sizeClass].push(slot);
    }

    /** A new chunk for {@code sizeClass}, registered with every registrar, all its slots but one made free. */
    private synchronized Slot grow(int sizeClass) {
        Slot again = free[sizeClass].poll(); // another thread may have grown it meanwhile
        if (again != null) {
            return again;
        }
        if ((long) (chunks.size() + 1) * CHUNK_SIZE > limit) {
            return null;
        }
        MemorySegment chunk = arena.allocate(CHUNK_SIZE, 4096);
        int id = chunks.size();
        chunks.add(chunk);
        for (Registrar r : registrars) {
            r.chunkAdded(id, chunk);
        }
        publish(chunk.address(), id);
        ByteBuffer view = chunk.asByteBuffer();
        int size = slotSize(sizeClass);
        Slot first = null;
        for (int at = 0; at < CHUNK_SIZE; at += size) {
            Slot slot = new Slot(view.slice(at, size), sizeClass);
            if (first == null) {
                first = slot;
            } else {
                give(slot);
            }
        }
        return first;
    }

    private void publish(long base, int id) {
        Index old = index;
        int at = -Arrays.binarySearch(old.bases, base) - 1;
        long[] bases = new long[old.bases.length + 1];
        int[] ids = new int[bases.length];
        System.arraycopy(old.bases, 0, bases, 0, at);
        System.arraycopy(old.ids, 0, ids, 0, at);
        bases[at] = base;
        ids[at] = id;
        System.arraycopy(old.bases, at, bases, at + 1, old.bases.length - at);
        System.arraycopy(old.ids, at, ids, at + 1, old.ids.length - at);
        index = new Index(bases, ids);
    }

    /** The id of the chunk that holds {@code [address, address + length)} whole, or -1. Any thread, no allocation. */
    public int chunkOf(long address, int length) {
        Index i = index;
        long[] bases = i.bases;
        int lo = 0;
        int hi = bases.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (bases[mid] <= address) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (hi < 0 || address + length > bases[hi] + CHUNK_SIZE) {
            return -1;
        }
        return i.ids[hi];
    }

    /** Registers every chunk with {@code registrar} now, and every new chunk as it comes. */
    public synchronized void addRegistrar(Registrar registrar) {
        for (int id = 0; id < chunks.size(); id++) {
            registrar.chunkAdded(id, chunks.get(id));
        }
        registrars.add(registrar);
    }

    public synchronized void removeRegistrar(Registrar registrar) {
        registrars.remove(registrar);
    }

    /** Chunks allocated so far (each {@link #CHUNK_SIZE} bytes). */
    public synchronized int chunkCount() {
        return chunks.size();
    }

    /** Free slots of the size class that serves {@code capacity} (for tests and metrics). */
    int freeSlots(int capacity) {
        return free[sizeClassOf(capacity)].size();
    }
}
