package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The owner of one anonymous shared-memory file ({@code memfd_create}), the backing store of a
 * shared-memory link. One side {@linkplain #create creates} it and sends the descriptor over a
 * {@link UnixSocket}; the other {@linkplain #adopt adopts} what it received; each then
 * {@linkplain #map maps} the same pages. Keeping the descriptor in an owner (rather than as a bare
 * int) makes sure it is closed exactly once, and never used after its number may have been reused.
 *
 * <p>Closing a {@code MemFd} does not unmap its {@link MappedRegion}s: a mapping holds its own
 * reference to the file and lives until its region is closed. Closing is idempotent; {@link #fd()}
 * and {@link #map()} throw {@link IllegalStateException} once closed.
 */
public final class MemFd implements AutoCloseable {
    private final int fd;
    private final long size;
    private volatile boolean closed;

    private MemFd(int fd, long size) {
        this.fd = fd;
        this.size = size;
    }

    /**
     * A new close-on-exec memfd of {@code size} zero-filled bytes. {@code name} is only a label
     * (it shows in {@code /proc/PID/fd} as {@code memfd:NAME}); it need not be unique.
     */
    public static MemFd create(String name, long size) throws NativeIoException {
        if (size <= 0) {
            throw new IllegalArgumentException("size must be positive: " + size);
        }
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.threadErrnoState();
            fd = LibC.memfd_create(errno, arena.allocateFrom(name), LibC.MFD_CLOEXEC | LibC.MFD_ALLOW_SEALING);
            if (fd < 0) {
                throw new NativeIoException("memfd_create(" + name + ")", Downcalls.errno(errno));
            }
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.ftruncate(errno, fd, size) != 0) {
            int e = Downcalls.errno(errno);
            FileDescriptors.closeQuietly(fd);
            throw new NativeIoException("ftruncate(memfd " + name + ", " + size + ")", e);
        }
        return new MemFd(fd, size);
    }

    /**
     * Takes ownership of {@code fd}, a memfd (or any seekable file) received from a peer; its size is
     * read with {@code lseek(fd, 0, SEEK_END)}, which also moves the file offset that every
     * descriptor for this open file shares (harmless here: the file is only ever mapped). Ownership
     * passes whether or not this succeeds: on failure {@code fd} is closed, so the caller must not
     * close it in either case.
     */
    public static MemFd adopt(int fd) throws NativeIoException {
        if (fd < 0) {
            throw new IllegalArgumentException("not a descriptor: " + fd);
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        long size = LibC.lseek(errno, fd, 0, LibC.SEEK_END);
        if (size < 0) {
            int e = Downcalls.errno(errno);
            PeerDescriptors.close(fd); // a peer's file, whatever it is: its close may wait
            throw new NativeIoException("lseek(" + fd + ", 0, SEEK_END)", e);
        }
        return new MemFd(fd, size);
    }

    /**
     * Seals the size for good ({@code F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL}). A process that
     * maps a file another process can shrink gets SIGBUS on the lost pages; a receiver that checks
     * {@link #isSizeSealed()} before mapping cannot be crashed that way.
     */
    public void sealSize() throws NativeIoException {
        ensureOpen();
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.fcntl(errno, fd, LibC.F_ADD_SEALS, LibC.F_SEAL_SHRINK | LibC.F_SEAL_GROW | LibC.F_SEAL_SEAL) != 0) {
            throw new NativeIoException("fcntl(memfd " + fd + ", F_ADD_SEALS)", Downcalls.errno(errno));
        }
    }

    /** True when nobody can change the size any more (sealed against shrinking and growing). */
    public boolean isSizeSealed() throws NativeIoException {
        ensureOpen();
        MemorySegment errno = Downcalls.threadErrnoState();
        int seals = LibC.fcntl(errno, fd, LibC.F_GET_SEALS, 0);
        if (seals < 0) {
            int e = Downcalls.errno(errno);
            if (e == LibC.EINVAL) {
                return false; // not a memfd at all, or one created without MFD_ALLOW_SEALING
            }
            throw new NativeIoException("fcntl(memfd " + fd + ", F_GET_SEALS)", e);
        }
        int needed = LibC.F_SEAL_SHRINK | LibC.F_SEAL_GROW;
        return (seals & needed) == needed;
    }

    /** The descriptor, still owned by this object (send it, do not close it). */
    public int fd() {
        ensureOpen();
        return fd;
    }

    /**
     * The size now ({@code lseek(fd, 0, SEEK_END)}). A received memfd's size can change under us
     * until it is sealed: read it after {@link #isSizeSealed()} says it no longer can.
     */
    public long currentSize() throws NativeIoException {
        ensureOpen();
        MemorySegment errno = Downcalls.threadErrnoState();
        long n = LibC.lseek(errno, fd, 0, LibC.SEEK_END);
        if (n < 0) {
            throw new NativeIoException("lseek(memfd " + fd + ", 0, SEEK_END)", Downcalls.errno(errno));
        }
        return n;
    }

    /** The size in bytes, as created or as found when adopted. */
    public long size() {
        return size;
    }

    public boolean isOpen() {
        return !closed;
    }

    /** Maps the whole file read-write and shared: writes through one mapping show in every other. */
    public MappedRegion map() throws NativeIoException {
        ensureOpen();
        if (size <= 0) {
            throw new IllegalStateException("cannot map an empty memfd (fd " + fd + ")");
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        MemorySegment address = LibC.mmap(errno, MemorySegment.NULL, size, LibC.PROT_READ | LibC.PROT_WRITE,
                LibC.MAP_SHARED, fd, 0);
        if (address.address() == LibC.MAP_FAILED) {
            throw new NativeIoException("mmap(memfd " + fd + ", " + size + " bytes)", Downcalls.errno(errno));
        }
        return new MappedRegion(address.address(), size);
    }

    /** Closes the descriptor once; later calls do nothing. Mappings stay valid until closed themselves. */
    @Override
    public void close() throws NativeIoException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        FileDescriptors.close(fd, "memfd " + fd);
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("memfd " + fd + " is closed");
        }
    }

    @Override
    public String toString() {
        return "MemFd(fd " + fd + ", " + size + " bytes" + (closed ? ", closed" : "") + ")";
    }
}
