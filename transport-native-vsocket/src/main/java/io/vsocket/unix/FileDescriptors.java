package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.rlimit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Helpers for raw descriptors that no owner holds yet: one received over a {@link UnixSocket} and
 * not adopted, or one being discarded on an error path. Owners ({@link MemFd}, {@link UnixSocket},
 * {@link NativeSocket}, {@link EventFd}) close their own descriptors; never pass theirs here.
 */
public final class FileDescriptors {
    private FileDescriptors() {
    }

    /**
     * Closes {@code fd}, ignoring failure. Negative values are ignored. As with {@code close(2)} on
     * Linux, the descriptor is released even if the call reports an error, so it is never retried.
     */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            LibC.close(Downcalls.threadErrnoState(), fd);
        }
    }

    /** Closes each of {@code fds} as {@link #closeQuietly(int)} does (descriptors that came for a set-up that will not happen). */
    public static void closeQuietly(int[] fds) {
        for (int fd : fds) {
            closeQuietly(fd);
        }
    }

    /**
     * Closes {@code fd}, an owner's own descriptor, throwing {@link NativeIoException} naming
     * {@code what} if {@code close(2)} reports an error (the descriptor is released all the same).
     */
    static void close(int fd, String what) throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.close(errno, fd) != 0) {
            throw new NativeIoException("close(" + what + ")", Downcalls.errno(errno));
        }
    }

    /**
     * A new close-on-exec descriptor for the same open file ({@code fcntl(F_DUPFD_CLOEXEC)}), owned by
     * the caller: for handing one object to two owners, each of which closes its own descriptor.
     */
    public static int duplicate(int fd) throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        int copy = LibC.fcntl(errno, fd, LibC.F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
            throw new NativeIoException("fcntl(" + fd + ", F_DUPFD_CLOEXEC)", Downcalls.errno(errno));
        }
        return copy;
    }

    /**
     * Whether a descriptor just made, numbered {@code fd}, shows the process past half its descriptor limit
     * ({@code RLIMIT_NOFILE}'s soft limit): the kernel gives the lowest free number, so every number below
     * {@code fd} is in use. Something that costs a descriptor of its own only to go faster (a shm link's
     * doorbell, where the connection works over tcp without it) should not take one then: the descriptors
     * left are for connections themselves. False when the limit cannot be read.
     */
    public static boolean pastHalfTheLimit(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment limit = rlimit.allocate(arena);
            if (LibC.getrlimit(Downcalls.threadErrnoState(), LibC.RLIMIT_NOFILE, limit) != 0) {
                return false;
            }
            long soft = rlimit.rlim_cur(limit);
            return soft > 0 && fd >= soft / 2; // (RLIM_INFINITY reads as -1: no limit)
        }
    }

    /** Whether {@code fd} has {@code FD_CLOEXEC} set ({@code fcntl(F_GETFD)}). */
    public static boolean isCloseOnExec(int fd) throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        int flags = LibC.fcntl(errno, fd, LibC.F_GETFD, 0);
        if (flags < 0) {
            throw new NativeIoException("fcntl(" + fd + ", F_GETFD)", Downcalls.errno(errno));
        }
        return (flags & LibC.FD_CLOEXEC) != 0;
    }
}
