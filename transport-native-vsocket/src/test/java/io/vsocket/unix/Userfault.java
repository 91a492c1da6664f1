package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A page whose first touch waits until this is closed: a {@code userfaultfd} range nobody serves. What a
 * hostile process can do to a copy the kernel makes into its memory, a {@code recv} into that page
 * stalls in the middle, holding whatever the kernel holds for the copy (a FUSE file a process serves
 * does the same without privileges). Linux on x86_64; {@link #open()} returns null where the kernel
 * refuses {@code userfaultfd} to this process, or its faults taken in the kernel (unprivileged users
 * by default: {@code vm.unprivileged_userfaultfd}).
 */
final class Userfault implements AutoCloseable {
    // From <sys/syscall.h>, <linux/userfaultfd.h> and <sys/mman.h> on x86_64, printed with gcc:
    // struct uffdio_api { __u64 api; __u64 features; __u64 ioctls; } (24 bytes);
    // struct uffdio_register { struct uffdio_range { __u64 start; __u64 len; } range; __u64 mode; __u64 ioctls; }
    // (32 bytes, mode at 16).
    private static final long SYS_USERFAULTFD = 323;
    private static final long UFFD_API = 0xAA;
    private static final long UFFDIO_API = 0xc018aa3fL;
    private static final long UFFDIO_REGISTER = 0xc020aa00L;
    private static final long UFFDIO_REGISTER_MODE_MISSING = 1;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int O_CLOEXEC = 02000000;
    private static final long PAGE = 4096;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(LINKER.defaultLookup().find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT), Linker.Option.firstVariadicArg(1));
    private static final MethodHandle IOCTL = LINKER.downcallHandle(LINKER.defaultLookup().find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));

    private final int fd;
    private final MemorySegment page;
    private boolean closed;

    private Userfault(int fd, MemorySegment page) {
        this.fd = fd;
        this.page = page;
    }

    /** A fresh stalling page, or null where this process may not make one. */
    static Userfault open() throws Throwable {
        int fd = (int) (long) SYSCALL.invokeExact(SYS_USERFAULTFD, O_CLOEXEC | LibC.O_NONBLOCK);
        if (fd < 0) {
            return null;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment api = arena.allocate(24);
            api.set(JAVA_LONG, 0, UFFD_API);
            if ((int) IOCTL.invokeExact(fd, UFFDIO_API, api) != 0) {
                FileDescriptors.closeQuietly(fd);
                return null;
            }
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment page = LibC.mmap(errno, MemorySegment.NULL, PAGE, LibC.PROT_READ | LibC.PROT_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0);
            if (page.address() == LibC.MAP_FAILED) {
                FileDescriptors.closeQuietly(fd);
                throw new NativeIoException("mmap of a page to stall", Downcalls.errno(errno));
            }
            page = page.reinterpret(PAGE);
            MemorySegment register = arena.allocate(32);
            register.set(JAVA_LONG, 0, page.address());
            register.set(JAVA_LONG, 8, PAGE);
            register.set(JAVA_LONG, 16, UFFDIO_REGISTER_MODE_MISSING);
            if ((int) IOCTL.invokeExact(fd, UFFDIO_REGISTER, register) != 0) {
                FileDescriptors.closeQuietly(fd);
                LibC.munmap(errno, page, PAGE);
                return null;
            }
            return new Userfault(fd, page);
        }
    }

    /** The page: its first touch (a read into it, by the kernel too) waits until {@link #close()}. */
    MemorySegment page() {
        return page;
    }

    /** The userfaultfd: readable once a touch of the page waits. */
    int fd() {
        return fd;
    }

    /** Lets every stalled touch go on: the range is no longer watched, and they get a fresh page. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            FileDescriptors.closeQuietly(fd);
        }
    }

    /** Unmaps the page, once nothing touches it any more. */
    void unmap() {
        try (Arena arena = Arena.ofConfined()) {
            LibC.munmap(Downcalls.newErrnoState(arena), page, PAGE);
        }
    }
}
