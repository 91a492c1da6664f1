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
 * Downcall handles into libc: epoll, eventfd, read/write/close, sockets (including
 * {@code sendmsg}/{@code recvmsg} with control messages, and {@code sendfile}), memfd and mmap, and
 * {@code strerror}.
 * Every call that reports failure through {@code errno} takes a leading errno-state segment
 * ({@link Downcalls#newErrnoState}). Constants are proven against the headers by the layout probe.
 */
public final class LibC {
    private LibC() {
    }

    private static final String LIBRARY = "libc";
    private static final SymbolLookup LOOKUP = Linker.nativeLinker().defaultLookup();

    public static final int EPOLLIN = 0x001;
    public static final int EPOLLPRI = 0x002;
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

    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_NONBLOCK = 04000;
    public static final int SOCK_CLOEXEC = 02000000;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_TYPE = 3;
    public static final int SO_ERROR = 4;
    public static final int SO_DOMAIN = 39;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_KEEPALIVE = 9;
    public static final int SO_LINGER = 13;
    public static final int SO_REUSEPORT = 15;
    public static final int SO_PEERCRED = 17;
    public static final int SO_BROADCAST = 6;
    public static final int IPPROTO_IP = 0;
    public static final int IP_TOS = 1;
    public static final int IP_MULTICAST_IF = 32;
    public static final int IP_MULTICAST_TTL = 33;
    public static final int IP_MULTICAST_LOOP = 34;
    public static final int IPV6_MULTICAST_IF = 17;
    public static final int IPV6_MULTICAST_HOPS = 18;
    public static final int IPV6_MULTICAST_LOOP = 19;
    public static final int IPV6_TCLASS = 67;
    public static final int MCAST_JOIN_GROUP = 42;
    public static final int MCAST_BLOCK_SOURCE = 43;
    public static final int MCAST_UNBLOCK_SOURCE = 44;
    public static final int MCAST_LEAVE_GROUP = 45;
    public static final int MCAST_JOIN_SOURCE_GROUP = 46;
    public static final int MCAST_LEAVE_SOURCE_GROUP = 47;
    public static final int AF_UNSPEC = 0;
    public static final int MSG_TRUNC = 0x20;
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_IPV6 = 41;
    public static final int IPV6_V6ONLY = 26;
    public static final int TCP_NODELAY = 1;
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int TCP_KEEPCNT = 6;
    public static final int TCP_USER_TIMEOUT = 18;
    public static final int TCP_CORK = 3;
    public static final int TCP_DEFER_ACCEPT = 9;
    public static final int TCP_QUICKACK = 12;
    public static final int TCP_FASTOPEN = 23;
    public static final int TCP_NOTSENT_LOWAT = 25;
    public static final int IP_FREEBIND = 15;
    public static final int IP_TRANSPARENT = 19;
    public static final int TCP_SAVE_SYN = 27;
    public static final int TCP_SAVED_SYN = 28;
    public static final int SHUT_RD = 0;
    public static final int SHUT_WR = 1;
    public static final int SHUT_RDWR = 2;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_OOB = 0x01;
    public static final int MSG_PEEK = 0x02;
    public static final int MSG_CTRUNC = 0x08;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SCM_RIGHTS = 1;
    public static final int RLIMIT_NOFILE = 7;
    // NETLINK_SOCK_DIAG (<linux/netlink.h>, <linux/sock_diag.h>, <linux/inet_diag.h>): one TCP socket looked up by its addresses.
    public static final int AF_NETLINK = 16;
    public static final int NETLINK_SOCK_DIAG = 4;
    public static final int SOCK_DIAG_BY_FAMILY = 20;
    public static final int NLM_F_REQUEST = 1;
    public static final int NLMSG_ERROR = 2;
    /** {@code INET_DIAG_NOCOOKIE}: {@code ~0U}, "look the socket up by its addresses, not by a cookie". */
    public static final int INET_DIAG_NOCOOKIE = -1;

    /*
     * Control-message arithmetic (the CMSG_* macros of <sys/socket.h>): payloads are padded to
     * sizeof(size_t), 8 on x86_64, and start CMSG_LEN(0) = CMSG_ALIGN(sizeof(struct cmsghdr)) bytes
     * after their header. The constants below are what these methods compute for SCM_RIGHTS arrays;
     * the layout probe proves each against gcc's expansion of the macros, so the methods are proven
     * for the aligned and the padded case (3 descriptors = 12 bytes, padded to 16).
     */

    /** {@code CMSG_ALIGN(len)}: {@code len} rounded up to a multiple of {@code sizeof(size_t)}. */
    public static long CMSG_ALIGN(long len) {
        long align = JAVA_LONG.byteSize();
        return (len + align - 1) & -align;
    }

    /** {@code CMSG_LEN(len)}: the {@code cmsg_len} of a control message with a {@code len}-byte payload. */
    public static long CMSG_LEN(long len) {
        return CMSG_ALIGN(cmsghdr.sizeof()) + len;
    }

    /** {@code CMSG_SPACE(len)}: the bytes a control message with a {@code len}-byte payload takes in the buffer. */
    public static long CMSG_SPACE(long len) {
        return CMSG_ALIGN(cmsghdr.sizeof()) + CMSG_ALIGN(len);
    }

    /** The offset of a control message's payload from its header ({@code CMSG_DATA}). */
    public static final int CMSG_LEN_0_FDS = (int) CMSG_LEN(0);
    public static final int CMSG_LEN_1_FD = (int) CMSG_LEN(Integer.BYTES);
    public static final int CMSG_SPACE_1_FD = (int) CMSG_SPACE(Integer.BYTES);
    public static final int CMSG_LEN_3_FDS = (int) CMSG_LEN(3 * Integer.BYTES);
    public static final int CMSG_SPACE_3_FDS = (int) CMSG_SPACE(3 * Integer.BYTES);
    public static final int CMSG_LEN_4_FDS = (int) CMSG_LEN(4 * Integer.BYTES);
    public static final int CMSG_SPACE_4_FDS = (int) CMSG_SPACE(4 * Integer.BYTES);

    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int O_NONBLOCK = 04000;
    public static final int F_GETFD = 1;
    public static final int FD_CLOEXEC = 1;
    public static final int F_DUPFD_CLOEXEC = 1030;

    public static final int MFD_CLOEXEC = 1;
    public static final int MFD_ALLOW_SEALING = 2;
    public static final int MADV_REMOVE = 9;
    public static final int F_ADD_SEALS = 1033;
    public static final int F_GET_SEALS = 1034;
    public static final int F_SEAL_SEAL = 1;
    public static final int F_SEAL_SHRINK = 2;
    public static final int F_SEAL_GROW = 4;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    /** {@code (void *) -1}, what {@code mmap} returns on failure. */
    public static final long MAP_FAILED = -1L;
    public static final int SEEK_END = 2;

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EMFILE = 24;
    public static final int ENFILE = 23;
    public static final int ENOBUFS = 105;
    public static final int EACCES = 13;
    public static final int EBUSY = 16;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOSYS = 38;
    public static final int EPIPE = 32;
    public static final int ENETUNREACH = 101;
    public static final int ECONNRESET = 104;
    public static final int EISCONN = 106;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    public static final int ECONNREFUSED = 111;
    public static final int EALREADY = 114;
    public static final int EINPROGRESS = 115;
    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int EMSGSIZE = 90;
    public static final int EHOSTUNREACH = 113;

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
    private static final MethodHandle SOCKET = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKETPAIR = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "socketpair", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle BIND = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "getsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SETSOCKOPT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "setsockopt", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKNAME = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "getsockname", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle GETPEERNAME = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "getpeername", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SHUTDOWN = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle WRITEV = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SEND = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "send", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle RECV = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle SENDMSG = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle MEMFD_CREATE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FTRUNCATE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MMAP = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "mmap", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle GETUID = Downcalls.downcall(LOOKUP, LIBRARY,
            "getuid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETRLIMIT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "getrlimit", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));

    // Calls a stream application may never make (datagrams, files, the urgent mark, errors' text, ...), each
    // linked on its first use by a holder class of its own rather than with the rest as this class loads:
    // a downcall's linking costs about 6 ms in a fresh JVM, most of the time its first connection takes
    // beyond epoll's. The holder's field is as constant to the JIT as the others.
    private static final class Sendto {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "sendto", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    }

    private static final class Recvfrom {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "recvfrom", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
    }

    private static final class Sendmmsg {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "sendmmsg", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }

    private static final class Sendfile { // off_t is 64 bits on x86_64 (glibc's sendfile there is sendfile64)
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "sendfile", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Sockatmark {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "sockatmark", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    private static final class Lseek {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    }

    private static final class Madvise {
        static final MethodHandle HANDLE = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
                "madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Strerror {
        static final MethodHandle HANDLE = Downcalls.downcall(LOOKUP, LIBRARY,
                "strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

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

    /** {@code int socket(int domain, int type, int protocol)}. */
    public static int socket(MemorySegment errno, int domain, int type, int protocol) {
        try {
            return (int) SOCKET.invokeExact(errno, domain, type, protocol);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int socketpair(int domain, int type, int protocol, int sv[2])}. */
    public static int socketpair(MemorySegment errno, int domain, int type, int protocol, MemorySegment fds) {
        try {
            return (int) SOCKETPAIR.invokeExact(errno, domain, type, protocol, fds);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int bind(int fd, const struct sockaddr *addr, socklen_t len)}. */
    public static int bind(MemorySegment errno, int fd, MemorySegment addr, int addrLen) {
        try {
            return (int) BIND.invokeExact(errno, fd, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int listen(int fd, int backlog)}. */
    public static int listen(MemorySegment errno, int fd, int backlog) {
        try {
            return (int) LISTEN.invokeExact(errno, fd, backlog);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)}. */
    public static int accept4(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen, int flags) {
        try {
            return (int) ACCEPT4.invokeExact(errno, fd, addr, addrLen, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int connect(int fd, const struct sockaddr *addr, socklen_t len)}. */
    public static int connect(MemorySegment errno, int fd, MemorySegment addr, int addrLen) {
        try {
            return (int) CONNECT.invokeExact(errno, fd, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int getsockopt(int fd, int level, int name, void *value, socklen_t *len)}. */
    public static int getsockopt(MemorySegment errno, int fd, int level, int name, MemorySegment value, MemorySegment valueLen) {
        try {
            return (int) GETSOCKOPT.invokeExact(errno, fd, level, name, value, valueLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int setsockopt(int fd, int level, int name, const void *value, socklen_t len)}. */
    public static int setsockopt(MemorySegment errno, int fd, int level, int name, MemorySegment value, int valueLen) {
        try {
            return (int) SETSOCKOPT.invokeExact(errno, fd, level, name, value, valueLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int getsockname(int fd, struct sockaddr *addr, socklen_t *len)}. */
    public static int getsockname(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen) {
        try {
            return (int) GETSOCKNAME.invokeExact(errno, fd, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int getpeername(int fd, struct sockaddr *addr, socklen_t *len)}. */
    public static int getpeername(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen) {
        try {
            return (int) GETPEERNAME.invokeExact(errno, fd, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int shutdown(int fd, int how)}. */
    public static int shutdown(MemorySegment errno, int fd, int how) {
        try {
            return (int) SHUTDOWN.invokeExact(errno, fd, how);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int sockatmark(int fd)}: 1 when the next in-band byte is where the pending urgent byte was sent. */
    public static int sockatmark(MemorySegment errno, int fd) {
        try {
            return (int) Sockatmark.HANDLE.invokeExact(errno, fd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t writev(int fd, const struct iovec *iov, int count)}. */
    public static long writev(MemorySegment errno, int fd, MemorySegment iov, int iovCount) {
        try {
            return (long) WRITEV.invokeExact(errno, fd, iov, iovCount);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t send(int fd, const void *buf, size_t len, int flags)}. */
    public static long send(MemorySegment errno, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) SEND.invokeExact(errno, fd, buf, len, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t recv(int fd, void *buf, size_t len, int flags)}. */
    public static long recv(MemorySegment errno, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) RECV.invokeExact(errno, fd, buf, len, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)}. */
    public static long sendto(MemorySegment errno, int fd, MemorySegment buf, long len, int flags,
            MemorySegment addr, int addrLen) {
        try {
            return (long) Sendto.HANDLE.invokeExact(errno, fd, buf, len, flags, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long recvfrom(MemorySegment errno, int fd, MemorySegment buf, long len, int flags,
            MemorySegment addr, MemorySegment addrLen) {
        try {
            return (long) Recvfrom.HANDLE.invokeExact(errno, fd, buf, len, flags, addr, addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int sendmmsg(MemorySegment errno, int fd, MemorySegment msgvec, int vlen, int flags) {
        try {
            return (int) Sendmmsg.HANDLE.invokeExact(errno, fd, msgvec, vlen, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long sendmsg(MemorySegment errno, int fd, MemorySegment msg, int flags) {
        try {
            return (long) SENDMSG.invokeExact(errno, fd, msg, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t recvmsg(int fd, struct msghdr *msg, int flags)}. */
    public static long recvmsg(MemorySegment errno, int fd, MemorySegment msg, int flags) {
        try {
            return (long) RECVMSG.invokeExact(errno, fd, msg, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * {@code ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)}: copies up to
     * {@code count} bytes of {@code in_fd} from {@code *offset} (which it advances; the file's own
     * offset does not move) to {@code out_fd} inside the kernel. 0 at the end of the file.
     */
    public static long sendfile(MemorySegment errno, int outFd, int inFd, MemorySegment offset, long count) {
        try {
            return (long) Sendfile.HANDLE.invokeExact(errno, outFd, inFd, offset, count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int memfd_create(const char *name, unsigned int flags)}; {@code name} is a NUL-terminated string. */
    public static int memfd_create(MemorySegment errno, MemorySegment name, int flags) {
        try {
            return (int) MEMFD_CREATE.invokeExact(errno, name, flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int ftruncate(int fd, off_t length)}. */
    public static int ftruncate(MemorySegment errno, int fd, long length) {
        try {
            return (int) FTRUNCATE.invokeExact(errno, fd, length);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code off_t lseek(int fd, off_t offset, int whence)}. */
    public static long lseek(MemorySegment errno, int fd, long offset, int whence) {
        try {
            return (long) Lseek.HANDLE.invokeExact(errno, fd, offset, whence);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * {@code void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)}: the mapping's
     * address as a zero-length segment, whose {@link MemorySegment#address() address()} is
     * {@link #MAP_FAILED} on failure.
     */
    public static MemorySegment mmap(MemorySegment errno, MemorySegment addr, long len, int prot, int flags, int fd, long off) {
        try {
            return (MemorySegment) MMAP.invokeExact(errno, addr, len, prot, flags, fd, off);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int madvise(void *addr, size_t len, int advice)}. */
    public static int madvise(MemorySegment errno, MemorySegment addr, long len, int advice) {
        try {
            return (int) Madvise.HANDLE.invokeExact(errno, addr, len, advice);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int munmap(void *addr, size_t len)}. */
    public static int munmap(MemorySegment errno, MemorySegment addr, long len) {
        try {
            return (int) MUNMAP.invokeExact(errno, addr, len);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int getrlimit(int resource, struct rlimit *rlim)}. */
    public static int getrlimit(MemorySegment errno, int resource, MemorySegment rlim) {
        try {
            return (int) GETRLIMIT.invokeExact(errno, resource, rlim);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code uid_t getuid(void)}; it cannot fail. */
    public static int getuid() {
        try {
            return (int) GETUID.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** The text of an errno value, as {@code strerror(3)} gives it. */
    public static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) Strerror.HANDLE.invokeExact(errno);
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
