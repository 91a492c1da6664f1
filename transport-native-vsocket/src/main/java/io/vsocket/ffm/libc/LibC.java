package io.vsocket.ffm.libc;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcall handles into libc: epoll, eventfd, read/write/close and {@code strerror}.
 * Every call that reports failure through {@code errno} takes a leading errno-state segment
 * ({@link Downcalls#newErrnoState}). Constants are proven against the headers by the layout probe.
 */
public final class LibC {
    private LibC() {
    }

    private static final String LIBRARY = "libc";
    private static final SymbolLookup LOOKUP = Linker.nativeLinker().defaultLookup();

    public static final int EPOLLIN = 0x001;
    public static final int EPOLLOUT = 0x004;
    public static final int EPOLLERR = 0x008;
    public static final int EPOLLHUP = 0x010;
    public static final int EPOLLRDHUP = 0x2000;
    public static final int EPOLLET = 1 << 31;
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;
    public static final int EPOLL_CLOEXEC = 02000000;
    public static final int EFD_SEMAPHORE = 1;
    public static final int EFD_CLOEXEC = 02000000;
    public static final int EFD_NONBLOCK = 04000;

    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int O_NONBLOCK = 04000;

    public static final int EPERM = 1;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EBUSY = 16;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOSYS = 38;

    private static final MethodHandle EPOLL_CREATE1 = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CTL = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    private static final MethodHandle EVENTFD = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle STRERROR = Downcalls.downcall(LOOKUP, LIBRARY,
            "strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));

    public static int epoll_create1(MemorySegment errno, int flags) {
        try {
            return (int) EPOLL_CREATE1.invokeExact(errno, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int epoll_ctl(MemorySegment errno, int epfd, int op, int fd, MemorySegment event) {
        try {
            return (int) EPOLL_CTL.invokeExact(errno, epfd, op, fd, event);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int epoll_wait(MemorySegment errno, int epfd, MemorySegment events, int maxEvents, int timeoutMillis) {
        try {
            return (int) EPOLL_WAIT.invokeExact(errno, epfd, events, maxEvents, timeoutMillis);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int eventfd(MemorySegment errno, int initval, int flags) {
        try {
            return (int) EVENTFD.invokeExact(errno, initval, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long read(MemorySegment errno, int fd, MemorySegment buf, long count) {
        try {
            return (long) READ.invokeExact(errno, fd, buf, count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long write(MemorySegment errno, int fd, MemorySegment buf, long count) {
        try {
            return (long) WRITE.invokeExact(errno, fd, buf, count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int close(MemorySegment errno, int fd) {
        try {
            return (int) CLOSE.invokeExact(errno, fd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int fcntl(int fd, int cmd, int arg)}: the variadic call with one int argument. */
    public static int fcntl(MemorySegment errno, int fd, int cmd, int arg) {
        try {
            return (int) FCNTL.invokeExact(errno, fd, cmd, arg);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** The text of an errno value, as {@code strerror(3)} gives it. */
    public static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
