package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.epoll_event;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * An epoll instance with a native array for the ready events. {@link #wait(int)} and the ready
 * accessors belong to the owning (event-loop) thread; interest changes may come from any thread.
 */
public final class Epoll implements AutoCloseable {
    private static final long EVENT_SIZE = epoll_event.sizeof();

    private final int fd;
    private final int capacity;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment ready;
    private final MemorySegment waitErrno;
    private final MemorySegment ctlEvent;
    private final MemorySegment ctlErrno;
    private boolean closed;

    private Epoll(int fd, int capacity) {
        this.fd = fd;
        this.capacity = capacity;
        this.ready = arena.allocate(epoll_event.LAYOUT, capacity);
        this.waitErrno = Downcalls.newErrnoState(arena);
        this.ctlEvent = epoll_event.allocate(arena);
        this.ctlErrno = Downcalls.newErrnoState(arena);
    }

    public static Epoll create(int capacity) throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int fd = LibC.epoll_create1(errno, LibC.EPOLL_CLOEXEC);
            if (fd < 0) {
                throw new NativeIoException("epoll_create1", Downcalls.errno(errno));
            }
            return new Epoll(fd, capacity);
        }
    }

    public int fd() {
        return fd;
    }

    public void add(int target, int events, long data) throws NativeIoException {
        control(LibC.EPOLL_CTL_ADD, "epoll_ctl(ADD)", target, events, data);
    }

    public void modify(int target, int events, long data) throws NativeIoException {
        control(LibC.EPOLL_CTL_MOD, "epoll_ctl(MOD)", target, events, data);
    }

    public void remove(int target) throws NativeIoException {
        control(LibC.EPOLL_CTL_DEL, "epoll_ctl(DEL)", target, 0, 0);
    }

    private synchronized void control(int op, String call, int target, int events, long data) throws NativeIoException {
        epoll_event.events(ctlEvent, events);
        epoll_event.data(ctlEvent, data);
        if (LibC.epoll_ctl(ctlErrno, fd, op, target, ctlEvent) != 0) {
            throw new NativeIoException(call + " fd " + target, Downcalls.errno(ctlErrno));
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (0: do not block, -1: forever) and returns how many events
     * are ready; 0 on timeout or when a signal interrupted the wait.
     */
    public int wait(int timeoutMillis) throws NativeIoException {
        int n = LibC.epoll_wait(waitErrno, fd, ready, capacity, timeoutMillis);
        if (n < 0) {
            int errno = Downcalls.errno(waitErrno);
            if (errno == LibC.EINTR) {
                return 0;
            }
            throw new NativeIoException("epoll_wait", errno);
        }
        return n;
    }

    /** The {@code EPOLL*} flags of ready event {@code i}. */
    public int readyEvents(int i) {
        return ready.get(JAVA_INT, i * EVENT_SIZE + epoll_event.events$OFFSET);
    }

    /** The data word registered with the descriptor of ready event {@code i}. */
    public long readyData(int i) {
        return ready.get(JAVA_LONG_UNALIGNED, i * EVENT_SIZE + epoll_event.data$OFFSET);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(ctlErrno, fd);
            arena.close();
        }
    }
}
