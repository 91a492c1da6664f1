package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A non-blocking eventfd private to this process: the event loop's wakeup, which any thread may
 * {@link #signal()}. (Never shared with another process: see {@link Doorbell} for why the shm link's
 * doorbells are Unix sockets.)
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    /**
     * Automatic, never closed by hand: a thread may be inside {@link #signal()} with these segments
     * when the owner closes the eventfd (a wakeup racing a shutdown); freeing them then would fail
     * the close, and with it the cleanup that follows.
     */
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment signalValue;
    private final MemorySegment drainValue;
    private final MemorySegment errno;
    /** Shared by every signalling thread: they race on it, harmlessly, since nobody reads it. */
    private final MemorySegment signalErrno;
    private volatile boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
        this.signalValue = arena.allocate(JAVA_LONG);
        this.signalValue.set(JAVA_LONG, 0, 1L);
        this.drainValue = arena.allocate(JAVA_LONG);
        this.errno = Downcalls.newErrnoState(arena);
        this.signalErrno = Downcalls.newErrnoState(arena);
    }

    /** A new eventfd, its counter at 0: {@link #signal()} makes it readable, {@link #drain()} resets it. */
    public static EventFd create() throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int fd = LibC.eventfd(errno, 0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
            if (fd < 0) {
                throw new NativeIoException("eventfd", Downcalls.errno(errno));
            }
            return new EventFd(fd);
        }
    }

    public int fd() {
        return fd;
    }

    /** Adds 1 to the counter, making the descriptor readable. Safe from any thread. */
    public void signal() {
        // Adding 1 can only fail if the counter would pass 2^64 - 2, which never happens here (a private eventfd).
        // Under the lock, and never after close: once closed, the descriptor's number may belong to
        // another file, which must not get these eight bytes. Writes are rare (a sleeping loop).
        synchronized (this) {
            if (!closed) {
                LibC.write(signalErrno, fd, signalValue, 8);
            }
        }
    }

    /** Reads and resets the counter; returns it (0 when it was not signalled). Owner thread only. */
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
