package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A non-blocking eventfd: the event loop's wakeup, which any thread may {@link #signal()}, and the shm
 * link's doorbells, shared with the peer's process, which are only ever {@link #ring() rung}.
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    /**
     * Automatic, never closed by hand: a thread may be inside {@link #signal()} or {@link #ring()} with these segments
     * when the owner closes the eventfd (a wakeup racing a shutdown); freeing them then would fail
     * the close, and with it the cleanup that follows.
     */
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment signalValue;
    /** Zero: what {@link #ring()} adds. */
    private final MemorySegment ringValue;
    private final MemorySegment drainValue;
    private final MemorySegment errno;
    /** Shared by every signalling thread: they race on it, harmlessly, since nobody reads it. */
    private final MemorySegment signalErrno;
    private volatile boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
        this.signalValue = arena.allocate(JAVA_LONG);
        this.signalValue.set(JAVA_LONG, 0, 1L);
        this.ringValue = arena.allocate(JAVA_LONG); // zeroed
        this.drainValue = arena.allocate(JAVA_LONG);
        this.errno = Downcalls.newErrnoState(arena);
        this.signalErrno = Downcalls.newErrnoState(arena);
    }

    /** A private eventfd (the loop's wakeup): its counter starts at 0, and {@link #signal()} wakes its watcher. */
    public static EventFd create() throws NativeIoException {
        return create(0);
    }

    /**
     * A doorbell to share with another process: its counter starts at 1, so that {@link #ring()} — which
     * adds nothing — makes it readable to an edge-triggered epoll, and a peer never needs to add to it.
     */
    public static EventFd createDoorbell() throws NativeIoException {
        return create(1);
    }

    private static EventFd create(int initial) throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int fd = LibC.eventfd(errno, initial, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
            if (fd < 0) {
                throw new NativeIoException("eventfd", Downcalls.errno(errno));
            }
            return new EventFd(fd);
        }
    }

    /**
     * Takes ownership of an eventfd received from another process (the shm link's doorbells): refused
     * (and closed) when the descriptor is no eventfd — a pipe or a socket would block a {@link #ring()} once
     * full, whatever its flags said when it came. It is made non-blocking here, whatever the sender set;
     * but the sender shares that flag and may clear it again, which is why a peer's doorbell is only ever
     * {@linkplain #ring() rung}.
     */
    public static EventFd adopt(int fd) throws NativeIoException {
        if (!isEventFd(fd)) {
            FileDescriptors.closeQuietly(fd);
            throw new NativeIoException("a received doorbell that is no eventfd", LibC.EINVAL);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int flags = LibC.fcntl(errno, fd, LibC.F_GETFL, 0);
            if (flags < 0 || LibC.fcntl(errno, fd, LibC.F_SETFL, flags | LibC.O_NONBLOCK) < 0) {
                int e = Downcalls.errno(errno);
                LibC.close(errno, fd);
                throw new NativeIoException("fcntl(O_NONBLOCK) on a received eventfd", e);
            }
        }
        return new EventFd(fd);
    }

    public int fd() {
        return fd;
    }

    /** Adds 1 to the counter, making the descriptor readable. Safe from any thread. */
    public void signal() {
        // Adding 1 can only fail if the counter would pass 2^64 - 2, which never happens here (a private eventfd).
        add(signalValue);
    }

    /**
     * Wakes whoever watches the descriptor without adding to its counter: a write of zero. A write of one
     * blocks once the counter is full on a descriptor that is not non-blocking, and another process that
     * shares this eventfd can make both so with writes of its own (a hostile peer froze a loop in that
     * write, for good); a write of zero completes at once against any count a write can leave. (Not
     * against the very top, which only the kernel's own signal reaches — a peer's kernel AIO completion
     * aimed at the eventfd: a per-call non-blocking doorbell, a socket pair written with
     * {@code MSG_DONTWAIT}, would close that too.) The watcher sees a ring only while the counter is above
     * zero: a {@linkplain #createDoorbell() doorbell}'s starts at one, and nobody reads it back. Safe from
     * any thread.
     */
    public void ring() {
        add(ringValue);
    }

    /** Writes {@code value}'s eight bytes: adds them to the counter. */
    private void add(MemorySegment value) {
        // Under the lock, and never after close: once closed, the descriptor's number may belong to
        // another file, which must not get these eight bytes. Writes are rare (a sleeping loop or peer).
        synchronized (this) {
            if (!closed) {
                LibC.write(signalErrno, fd, value, 8);
            }
        }
    }

    /** Whether {@code fd} is an eventfd (as its link in {@code /proc/self/fd} says). */
    static boolean isEventFd(int fd) {
        try {
            return "anon_inode:[eventfd]".equals(Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Reads and resets the counter; returns it (0 when it was not signalled). Owner thread only; never on a
     * doorbell, whose {@linkplain #ring() rings} wake its watcher only while the counter is above zero.
     */
    public long drain() {
        if (closed) {
            return 0;
        }
        long n = LibC.read(errno, fd, drainValue, 8);
        return n == 8 ? drainValue.get(JAVA_LONG, 0) : 0;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(errno, fd);
        }
    }
}
