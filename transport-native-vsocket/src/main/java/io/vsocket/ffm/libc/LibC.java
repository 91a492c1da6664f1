package io.vsocket.ffm.libc;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;

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

    // Every call but fcntl (variadic) is a word call (Downcalls.wordCall): arguments and result as 64-bit integers,
    // so that the calls share seven stubs where their own descriptors needed some twenty, each 7-12 ms to make in a
    // fresh JVM. Each wrapper below gives the C prototype, widens what it passes and narrows what it returns, and
    // keeps each segment reachable through its call.
    private static final MethodHandle EPOLL_CREATE1 = Downcalls.wordCall(LOOKUP, LIBRARY, "epoll_create1", 1, true);
    private static final MethodHandle EPOLL_CTL = Downcalls.wordCall(LOOKUP, LIBRARY, "epoll_ctl", 4, true);
    private static final MethodHandle EPOLL_WAIT = Downcalls.wordCall(LOOKUP, LIBRARY, "epoll_wait", 4, true);
    private static final MethodHandle EVENTFD = Downcalls.wordCall(LOOKUP, LIBRARY, "eventfd", 2, true);
    private static final MethodHandle READ = Downcalls.wordCall(LOOKUP, LIBRARY, "read", 3, true);
    private static final MethodHandle WRITE = Downcalls.wordCall(LOOKUP, LIBRARY, "write", 3, true);
    private static final MethodHandle CLOSE = Downcalls.wordCall(LOOKUP, LIBRARY, "close", 1, true);
    private static final MethodHandle FCNTL = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY,
            "fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle SOCKET = Downcalls.wordCall(LOOKUP, LIBRARY, "socket", 3, true);
    private static final MethodHandle SOCKETPAIR = Downcalls.wordCall(LOOKUP, LIBRARY, "socketpair", 4, true);
    private static final MethodHandle BIND = Downcalls.wordCall(LOOKUP, LIBRARY, "bind", 3, true);
    private static final MethodHandle LISTEN = Downcalls.wordCall(LOOKUP, LIBRARY, "listen", 2, true);
    private static final MethodHandle ACCEPT4 = Downcalls.wordCall(LOOKUP, LIBRARY, "accept4", 4, true);
    private static final MethodHandle CONNECT = Downcalls.wordCall(LOOKUP, LIBRARY, "connect", 3, true);
    private static final MethodHandle GETSOCKOPT = Downcalls.wordCall(LOOKUP, LIBRARY, "getsockopt", 5, true);
    private static final MethodHandle SETSOCKOPT = Downcalls.wordCall(LOOKUP, LIBRARY, "setsockopt", 5, true);
    private static final MethodHandle GETSOCKNAME = Downcalls.wordCall(LOOKUP, LIBRARY, "getsockname", 3, true);
    private static final MethodHandle GETPEERNAME = Downcalls.wordCall(LOOKUP, LIBRARY, "getpeername", 3, true);
    private static final MethodHandle SHUTDOWN = Downcalls.wordCall(LOOKUP, LIBRARY, "shutdown", 2, true);
    private static final MethodHandle WRITEV = Downcalls.wordCall(LOOKUP, LIBRARY, "writev", 3, true);
    private static final MethodHandle SEND = Downcalls.wordCall(LOOKUP, LIBRARY, "send", 4, true);
    private static final MethodHandle RECV = Downcalls.wordCall(LOOKUP, LIBRARY, "recv", 4, true);
    private static final MethodHandle SENDMSG = Downcalls.wordCall(LOOKUP, LIBRARY, "sendmsg", 3, true);
    private static final MethodHandle RECVMSG = Downcalls.wordCall(LOOKUP, LIBRARY, "recvmsg", 3, true);
    private static final MethodHandle MEMFD_CREATE = Downcalls.wordCall(LOOKUP, LIBRARY, "memfd_create", 2, true);
    private static final MethodHandle FTRUNCATE = Downcalls.wordCall(LOOKUP, LIBRARY, "ftruncate", 2, true);
    private static final MethodHandle MMAP = Downcalls.wordCall(LOOKUP, LIBRARY, "mmap", 6, true);
    private static final MethodHandle MUNMAP = Downcalls.wordCall(LOOKUP, LIBRARY, "munmap", 2, true);
    private static final MethodHandle GETUID = Downcalls.wordCall(LOOKUP, LIBRARY, "getuid", 0, false);
    private static final MethodHandle GETRLIMIT = Downcalls.wordCall(LOOKUP, LIBRARY, "getrlimit", 2, true);
    private static final MethodHandle SENDTO = Downcalls.wordCall(LOOKUP, LIBRARY, "sendto", 6, true);
    private static final MethodHandle RECVFROM = Downcalls.wordCall(LOOKUP, LIBRARY, "recvfrom", 6, true);
    private static final MethodHandle SENDMMSG = Downcalls.wordCall(LOOKUP, LIBRARY, "sendmmsg", 4, true);
    // off_t is 64 bits on x86_64 (glibc's sendfile there is sendfile64)
    private static final MethodHandle SENDFILE = Downcalls.wordCall(LOOKUP, LIBRARY, "sendfile", 4, true);
    private static final MethodHandle SOCKATMARK = Downcalls.wordCall(LOOKUP, LIBRARY, "sockatmark", 1, true);
    private static final MethodHandle LSEEK = Downcalls.wordCall(LOOKUP, LIBRARY, "lseek", 3, true);
    private static final MethodHandle MADVISE = Downcalls.wordCall(LOOKUP, LIBRARY, "madvise", 3, true);

    // strerror is linked on its first use (by a holder class, as constant to the JIT as a field): only an error's
    // text needs it.
    private static final class Strerror {
        static final MethodHandle HANDLE = Downcalls.wordCall(LOOKUP, LIBRARY, "strerror", 1, false);
    }

    /** {@code int epoll_create1(int flags)}. */
    public static int epoll_create1(MemorySegment errno, int flags) {
        try {
            return (int) (long) EPOLL_CREATE1.invokeExact(errno, (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)}. */
    public static int epoll_ctl(MemorySegment errno, int epfd, int op, int fd, MemorySegment event) {
        try {
            return (int) (long) EPOLL_CTL.invokeExact(errno, (long) epfd, (long) op, (long) fd, Downcalls.address(event));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(event);
        }
    }

    /** {@code int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)}. */
    public static int epoll_wait(MemorySegment errno, int epfd, MemorySegment events, int maxEvents, int timeoutMillis) {
        try {
            return (int) (long) EPOLL_WAIT.invokeExact(errno, (long) epfd, Downcalls.address(events), (long) maxEvents, (long) timeoutMillis);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(events);
        }
    }

    /** {@code int eventfd(unsigned int initval, int flags)}. */
    public static int eventfd(MemorySegment errno, int initval, int flags) {
        try {
            return (int) (long) EVENTFD.invokeExact(errno, (long) initval, (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t read(int fd, void *buf, size_t count)}. */
    public static long read(MemorySegment errno, int fd, MemorySegment buf, long count) {
        try {
            return (long) READ.invokeExact(errno, (long) fd, Downcalls.address(buf), count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
        }
    }

    /** {@code ssize_t write(int fd, const void *buf, size_t count)}. */
    public static long write(MemorySegment errno, int fd, MemorySegment buf, long count) {
        try {
            return (long) WRITE.invokeExact(errno, (long) fd, Downcalls.address(buf), count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
        }
    }

    /** {@code int close(int fd)}. */
    public static int close(MemorySegment errno, int fd) {
        try {
            return (int) (long) CLOSE.invokeExact(errno, (long) fd);
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
            return (int) (long) SOCKET.invokeExact(errno, (long) domain, (long) type, (long) protocol);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int socketpair(int domain, int type, int protocol, int sv[2])}. */
    public static int socketpair(MemorySegment errno, int domain, int type, int protocol, MemorySegment fds) {
        try {
            return (int) (long) SOCKETPAIR.invokeExact(errno, (long) domain, (long) type, (long) protocol, Downcalls.address(fds));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(fds);
        }
    }

    /** {@code int bind(int fd, const struct sockaddr *addr, socklen_t len)}. */
    public static int bind(MemorySegment errno, int fd, MemorySegment addr, int addrLen) {
        try {
            return (int) (long) BIND.invokeExact(errno, (long) fd, Downcalls.address(addr), (long) addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code int listen(int fd, int backlog)}. */
    public static int listen(MemorySegment errno, int fd, int backlog) {
        try {
            return (int) (long) LISTEN.invokeExact(errno, (long) fd, (long) backlog);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)}. */
    public static int accept4(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen, int flags) {
        try {
            return (int) (long) ACCEPT4.invokeExact(errno, (long) fd, Downcalls.address(addr), Downcalls.address(addrLen), (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
            Reference.reachabilityFence(addrLen);
        }
    }

    /** {@code int connect(int fd, const struct sockaddr *addr, socklen_t len)}. */
    public static int connect(MemorySegment errno, int fd, MemorySegment addr, int addrLen) {
        try {
            return (int) (long) CONNECT.invokeExact(errno, (long) fd, Downcalls.address(addr), (long) addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code int getsockopt(int fd, int level, int name, void *value, socklen_t *len)}. */
    public static int getsockopt(MemorySegment errno, int fd, int level, int name, MemorySegment value, MemorySegment valueLen) {
        try {
            return (int) (long) GETSOCKOPT.invokeExact(errno, (long) fd, (long) level, (long) name, Downcalls.address(value), Downcalls.address(valueLen));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(value);
            Reference.reachabilityFence(valueLen);
        }
    }

    /** {@code int setsockopt(int fd, int level, int name, const void *value, socklen_t len)}. */
    public static int setsockopt(MemorySegment errno, int fd, int level, int name, MemorySegment value, int valueLen) {
        try {
            return (int) (long) SETSOCKOPT.invokeExact(errno, (long) fd, (long) level, (long) name, Downcalls.address(value), (long) valueLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(value);
        }
    }

    /** {@code int getsockname(int fd, struct sockaddr *addr, socklen_t *len)}. */
    public static int getsockname(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen) {
        try {
            return (int) (long) GETSOCKNAME.invokeExact(errno, (long) fd, Downcalls.address(addr), Downcalls.address(addrLen));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
            Reference.reachabilityFence(addrLen);
        }
    }

    /** {@code int getpeername(int fd, struct sockaddr *addr, socklen_t *len)}. */
    public static int getpeername(MemorySegment errno, int fd, MemorySegment addr, MemorySegment addrLen) {
        try {
            return (int) (long) GETPEERNAME.invokeExact(errno, (long) fd, Downcalls.address(addr), Downcalls.address(addrLen));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
            Reference.reachabilityFence(addrLen);
        }
    }

    /** {@code int shutdown(int fd, int how)}. */
    public static int shutdown(MemorySegment errno, int fd, int how) {
        try {
            return (int) (long) SHUTDOWN.invokeExact(errno, (long) fd, (long) how);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code int sockatmark(int fd)}: 1 when the next in-band byte is where the pending urgent byte was sent. */
    public static int sockatmark(MemorySegment errno, int fd) {
        try {
            return (int) (long) SOCKATMARK.invokeExact(errno, (long) fd);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code ssize_t writev(int fd, const struct iovec *iov, int count)}. */
    public static long writev(MemorySegment errno, int fd, MemorySegment iov, int iovCount) {
        try {
            return (long) WRITEV.invokeExact(errno, (long) fd, Downcalls.address(iov), (long) iovCount);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(iov);
        }
    }

    /** {@code ssize_t send(int fd, const void *buf, size_t len, int flags)}. */
    public static long send(MemorySegment errno, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) SEND.invokeExact(errno, (long) fd, Downcalls.address(buf), len, (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
        }
    }

    /** {@code ssize_t recv(int fd, void *buf, size_t len, int flags)}. */
    public static long recv(MemorySegment errno, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) RECV.invokeExact(errno, (long) fd, Downcalls.address(buf), len, (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
        }
    }

    /** {@code ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen)}. */
    public static long sendto(MemorySegment errno, int fd, MemorySegment buf, long len, int flags,
            MemorySegment addr, int addrLen) {
        try {
            return (long) SENDTO.invokeExact(errno, (long) fd, Downcalls.address(buf), len, (long) flags, Downcalls.address(addr), (long) addrLen);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen)}. */
    public static long recvfrom(MemorySegment errno, int fd, MemorySegment buf, long len, int flags,
            MemorySegment addr, MemorySegment addrLen) {
        try {
            return (long) RECVFROM.invokeExact(errno, (long) fd, Downcalls.address(buf), len, (long) flags, Downcalls.address(addr), Downcalls.address(addrLen));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(buf);
            Reference.reachabilityFence(addr);
            Reference.reachabilityFence(addrLen);
        }
    }

    /** {@code int sendmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags)}. */
    public static int sendmmsg(MemorySegment errno, int fd, MemorySegment msgvec, int vlen, int flags) {
        try {
            return (int) (long) SENDMMSG.invokeExact(errno, (long) fd, Downcalls.address(msgvec), (long) vlen, (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(msgvec);
        }
    }

    /** {@code ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)}. */
    public static long sendmsg(MemorySegment errno, int fd, MemorySegment msg, int flags) {
        try {
            return (long) SENDMSG.invokeExact(errno, (long) fd, Downcalls.address(msg), (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(msg);
        }
    }

    /** {@code ssize_t recvmsg(int fd, struct msghdr *msg, int flags)}. */
    public static long recvmsg(MemorySegment errno, int fd, MemorySegment msg, int flags) {
        try {
            return (long) RECVMSG.invokeExact(errno, (long) fd, Downcalls.address(msg), (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(msg);
        }
    }

    /**
     * {@code ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)}: copies up to
     * {@code count} bytes of {@code in_fd} from {@code *offset} (which it advances; the file's own
     * offset does not move) to {@code out_fd} inside the kernel. 0 at the end of the file.
     */
    public static long sendfile(MemorySegment errno, int outFd, int inFd, MemorySegment offset, long count) {
        try {
            return (long) SENDFILE.invokeExact(errno, (long) outFd, (long) inFd, Downcalls.address(offset), count);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(offset);
        }
    }

    /** {@code int memfd_create(const char *name, unsigned int flags)}; {@code name} is a NUL-terminated string. */
    public static int memfd_create(MemorySegment errno, MemorySegment name, int flags) {
        try {
            return (int) (long) MEMFD_CREATE.invokeExact(errno, Downcalls.address(name), (long) flags);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(name);
        }
    }

    /** {@code int ftruncate(int fd, off_t length)}. */
    public static int ftruncate(MemorySegment errno, int fd, long length) {
        try {
            return (int) (long) FTRUNCATE.invokeExact(errno, (long) fd, length);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code off_t lseek(int fd, off_t offset, int whence)}. */
    public static long lseek(MemorySegment errno, int fd, long offset, int whence) {
        try {
            return (long) LSEEK.invokeExact(errno, (long) fd, offset, (long) whence);
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
            return MemorySegment.ofAddress((long) MMAP.invokeExact(errno, Downcalls.address(addr), len, (long) prot, (long) flags, (long) fd, off));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code int madvise(void *addr, size_t len, int advice)}. */
    public static int madvise(MemorySegment errno, MemorySegment addr, long len, int advice) {
        try {
            return (int) (long) MADVISE.invokeExact(errno, Downcalls.address(addr), len, (long) advice);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code int munmap(void *addr, size_t len)}. */
    public static int munmap(MemorySegment errno, MemorySegment addr, long len) {
        try {
            return (int) (long) MUNMAP.invokeExact(errno, Downcalls.address(addr), len);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(addr);
        }
    }

    /** {@code int getrlimit(int resource, struct rlimit *rlim)}. */
    public static int getrlimit(MemorySegment errno, int resource, MemorySegment rlim) {
        try {
            return (int) (long) GETRLIMIT.invokeExact(errno, (long) resource, Downcalls.address(rlim));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(rlim);
        }
    }

    /** {@code uid_t getuid(void)}; it cannot fail. */
    public static int getuid() {
        try {
            return (int) (long) GETUID.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** The text of an errno value, as {@code strerror(3)} gives it. */
    public static String strerror(int errno) {
        try {
            long text = (long) Strerror.HANDLE.invokeExact((long) errno);
            return MemorySegment.ofAddress(text).reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
