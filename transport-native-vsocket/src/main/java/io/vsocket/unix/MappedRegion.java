package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The owner of one shared mapping made by {@link MemFd#map()}. It exists so that the pages are
 * unmapped exactly once, by this object, and so that nothing can touch them afterwards.
 *
 * <p>{@link #segment()} is a segment of exactly {@link #size()} bytes at the mapped address, usable
 * from any thread. It is tied to a shared arena that this object closes just before it calls
 * {@code munmap}: the arena never frees anything (it has no cleanup; the owner unmaps), it only
 * makes every copy of the segment, wherever it was handed, fail with {@link IllegalStateException}
 * on access after {@link #close()} instead of crashing the JVM on an unmapped page.
 * {@link #segment()} itself throws {@link IllegalStateException} once closed.
 */
public final class MappedRegion implements AutoCloseable {
    private final long address;
    private final long size;
    private final Arena scope = Arena.ofShared();
    private final MemorySegment segment;
    private volatile boolean closed;

    MappedRegion(long address, long size) {
        this.address = address;
        this.size = size;
        this.segment = MemorySegment.ofAddress(address).reinterpret(size, scope, null);
    }

    /** The mapped bytes; throws {@link IllegalStateException} once closed. */
    public MemorySegment segment() {
        if (closed) {
            throw new IllegalStateException("mapping at 0x" + Long.toHexString(address) + " is unmapped");
        }
        return segment;
    }

    public long size() {
        return size;
    }

    public boolean isOpen() {
        return !closed;
    }

    /**
     * Gives the pages of {@code [offset, offset + length)} back to the kernel ({@code MADV_REMOVE}: a
     * hole is punched in the shared file, for every process that maps it). The range stays mapped
     * and reads as zeros; touching it again allocates fresh pages. Offset and length must be
     * page-aligned.
     */
    public void release(long offset, long length) throws NativeIoException {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IndexOutOfBoundsException("[" + offset + ", " + (offset + length) + ") outside " + size + " bytes");
        }
        segment(); // refuses a closed region
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.madvise(errno, MemorySegment.ofAddress(address + offset), length, LibC.MADV_REMOVE) != 0) {
            throw new NativeIoException("madvise(MADV_REMOVE, " + length + " bytes at +" + offset + ")",
                    Downcalls.errno(errno));
        }
    }

    /**
     * Unmaps the pages once; later calls do nothing. Throws {@link IllegalStateException}, leaving
     * the mapping in place, if another thread holds the segment's arena (a native call linked with an
     * address argument does; vsocket's own calls pass addresses and hold nothing, so its owner closes it
     * only once no call can use it).
     */
    @Override
    public void close() throws NativeIoException {
        synchronized (this) {
            if (closed) {
                return;
            }
            scope.close(); // every view of the segment is dead from here on
            closed = true;
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.munmap(errno, MemorySegment.ofAddress(address), size) != 0) {
            throw new NativeIoException("munmap(0x" + Long.toHexString(address) + ", " + size + ")",
                    Downcalls.errno(errno));
        }
    }

    @Override
    public String toString() {
        return "MappedRegion(0x" + Long.toHexString(address) + ", " + size + " bytes" + (closed ? ", unmapped" : "") + ")";
    }
}
