package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.group_req;
import io.vsocket.ffm.libc.group_source_req;
import io.vsocket.ffm.libc.linger;
import io.vsocket.ffm.libc.sockaddr_in6;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.BindException;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.nio.channels.ClosedChannelException;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The owner of one non-blocking IPv6 (dual-stack) TCP or UDP socket descriptor. Reads and writes take
 * native addresses and report "would block" as 0 and end-of-stream as -1, as Netty's native
 * transports do; failures throw {@link NativeIoException} naming the call. Closing is idempotent.
 */
public final class NativeSocket implements AutoCloseable {
    /** Returned by {@link #read} at end of stream. */
    public static final int EOF = -1;
    /** Returned by {@link #readUrgent} when there is no urgent byte to read (the kernel said {@code EINVAL}). */
    public static final int URGENT_NONE = -1;
    /** Returned by {@link #readUrgent} when an urgent byte is announced but has not arrived yet ({@code EAGAIN}). */
    public static final int URGENT_NOT_YET = -2;
    /** {@link #readBeforeMark}: the in-band reads have reached the peer's urgent mark. */
    public static final int AT_MARK = -2;

    /**
     * {@code sendfile}'s in-out offset, one per thread (a loop writes one channel at a time): a
     * segment per call would be an allocation per write on the hot path. Never freed, 8 bytes each.
     */
    private static final ThreadLocal<MemorySegment> SENDFILE_OFFSET =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(JAVA_LONG));

    /** Returned by {@link #receiveFrom} when no datagram is waiting (an empty datagram gives 0). */
    public static final int NO_DATAGRAM = -1;

    /**
     * The socket addresses of {@link #sendTo} and {@link #receiveFrom}, one set per thread (a loop
     * sends and receives for one channel at a time): per-call segments would allocate on the hot path.
     */
    private static final ThreadLocal<DatagramAddresses> DATAGRAM_ADDRESSES =
            ThreadLocal.withInitial(DatagramAddresses::new);

    /**
     * The address, length and option value a connect, a socket name or an option passes by pointer,
     * one set per thread (the calls never nest): a confined arena per call costs an allocation and its
     * release on every connection's set-up.
     */
    private static final ThreadLocal<CallScratch> CALL_SCRATCH = ThreadLocal.withInitial(CallScratch::new);

    /** A thread's memory for {@link #CALL_SCRATCH}. */
    private static final class CallScratch {
        final MemorySegment address = Arena.ofAuto().allocate(sockaddr_in6.LAYOUT);
        final MemorySegment length = Arena.ofAuto().allocate(JAVA_INT);
        final MemorySegment value = Arena.ofAuto().allocate(JAVA_INT);
        /** A saved SYN's headers: IPv4's or IPv6's, then TCP's with its options (at most 60 + 60 bytes). */
        final MemorySegment syn = Arena.ofAuto().allocate(SAVED_SYN_MAX);
    }

    private static final int SAVED_SYN_MAX = 256;

    private final int fd;
    private volatile boolean open = true;
    private boolean inputShutdown;
    private boolean outputShutdown;

    /** The peer's address as accept(2) gave it (see {@link #accept()}); null for a socket not accepted. */
    private InetSocketAddress acceptedFrom;

    private NativeSocket(int fd) {
        this.fd = fd;
    }

    /** A new non-blocking, close-on-exec, dual-stack stream socket. */
    public static NativeSocket newStreamSocket() throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        int fd = LibC.socket(errno, LibC.AF_INET6, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new NativeIoException("socket(AF_INET6, SOCK_STREAM)", Downcalls.errno(errno));
        }
        NativeSocket socket = new NativeSocket(fd);
        socket.setIntOption(LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, 0, "IPV6_V6ONLY");
        return socket;
    }

    /** A new non-blocking, close-on-exec, dual-stack datagram (UDP) socket. */
    public static NativeSocket newDatagramSocket() throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        int fd = LibC.socket(errno, LibC.AF_INET6, LibC.SOCK_DGRAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new NativeIoException("socket(AF_INET6, SOCK_DGRAM)", Downcalls.errno(errno));
        }
        NativeSocket socket = new NativeSocket(fd);
        try {
            socket.setIntOption(LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, 0, "IPV6_V6ONLY");
        } catch (NativeIoException e) {
            FileDescriptors.close(fd, "socket " + fd);
            throw e;
        }
        return socket;
    }

    public int fd() {
        return fd;
    }

    /**
     * A second owner of this socket (a duplicate descriptor of the same connection): the connection
     * ends only when both are closed, so one owner's close is not the kernel's.
     */
    public NativeSocket duplicate() throws NativeIoException {
        refuseIfClosed("fcntl(F_DUPFD_CLOEXEC)");
        return new NativeSocket(FileDescriptors.duplicate(fd));
    }

    public boolean isOpen() {
        return open;
    }

    public void bind(InetSocketAddress local) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr_in6.allocate(arena);
            SocketAddresses.write(sa, SocketAddresses.forBind(local));
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.bind(errno, fd, sa, (int) sockaddr_in6.sizeof()) != 0) {
                NativeIoException e = new NativeIoException("bind(" + local + ")", Downcalls.errno(errno));
                if (e.errno() == LibC.EADDRINUSE || e.errno() == LibC.EADDRNOTAVAIL || e.errno() == LibC.EACCES) {
                    // What NIO throws, and what applications catch to try another port (Spring Boot's "port in
                    // use", a test's free-port loop); the errno stays on the cause.
                    BindException bind = new BindException(e.getMessage());
                    bind.initCause(e);
                    throw bind;
                }
                throw e;
            }
        }
    }

    public void listen(int backlog) throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.listen(errno, fd, backlog) != 0) {
            throw new NativeIoException("listen", Downcalls.errno(errno));
        }
    }

    /**
     * Accepts one pending connection as a non-blocking socket, or returns null when none is pending. The
     * peer's address comes with it ({@link #acceptedFrom()}), as accept(2) gives it: a connection the
     * peer reset while it waited in the queue is still accepted, and getpeername(2) on it then fails.
     */
    public NativeSocket accept() throws NativeIoException {
        refuseIfClosed("accept4");
        CallScratch scratch = CALL_SCRATCH.get();
        scratch.length.set(JAVA_INT, 0, (int) sockaddr_in6.sizeof());
        MemorySegment errno = Downcalls.threadErrnoState();
        int child = LibC.accept4(errno, fd, scratch.address, scratch.length, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
        if (child < 0) {
            int e = Downcalls.errno(errno);
            if (e == LibC.EAGAIN || e == LibC.EINTR) {
                return null;
            }
            throw new NativeIoException("accept4", e);
        }
        NativeSocket accepted = new NativeSocket(child);
        accepted.acceptedFrom = SocketAddresses.read(scratch.address);
        return accepted;
    }

    /** The peer's address as {@link #accept()} gave it; null for a socket not accepted. */
    public InetSocketAddress acceptedFrom() {
        return acceptedFrom;
    }

    /**
     * Starts connecting to {@code remote}: true when connected at once, false when the connection is
     * in progress (wait for writability, then call {@link #finishConnect()}).
     */
    public boolean connect(InetSocketAddress remote) throws IOException {
        MemorySegment sa = CALL_SCRATCH.get().address;
        SocketAddresses.write(sa, remote);
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.connect(errno, fd, sa, (int) sockaddr_in6.sizeof()) == 0) {
            return true;
        }
        int e = Downcalls.errno(errno);
        if (e == LibC.EINPROGRESS) {
            return false;
        }
        throw connectException(remote, e);
    }

    /**
     * Dissolves a datagram socket's association ({@code connect} with {@code AF_UNSPEC}): it sends
     * and receives to and from anyone again. A local port the socket did not bind explicitly may be
     * released by the kernel.
     */
    public void disconnect() throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr_in6.allocate(arena);
            sockaddr_in6.sin6_family(sa, (short) LibC.AF_UNSPEC);
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.connect(errno, fd, sa, (int) sockaddr_in6.sizeof()) != 0) {
                throw new NativeIoException("connect(AF_UNSPEC)", Downcalls.errno(errno));
            }
        }
    }

    /**
     * Sends one datagram of {@code [address, address + length)} to {@code remote}, or to the
     * connected peer when {@code remote} is null: true when sent, false when the socket's buffer is
     * full (wait for writability). Failures (the peer's port unreachable, {@code EMSGSIZE}, no route)
     * throw.
     */
    public boolean sendTo(long address, int length, InetSocketAddress remote) throws NativeIoException {
        refuseIfClosed("sendto");
        MemorySegment errno = Downcalls.threadErrnoState();
        MemorySegment buf = MemorySegment.ofAddress(address);
        long n;
        int e;
        do {
            if (remote == null) {
                n = LibC.send(errno, fd, buf, length, LibC.MSG_NOSIGNAL);
            } else {
                MemorySegment sa = DATAGRAM_ADDRESSES.get().destination(remote);
                n = LibC.sendto(errno, fd, buf, length, LibC.MSG_NOSIGNAL, sa, (int) sockaddr_in6.sizeof());
            }
            e = n >= 0 ? 0 : Downcalls.errno(errno);
        } while (e == LibC.EINTR);
        if (n >= 0) {
            return true;
        }
        if (e == LibC.EAGAIN) {
            return false;
        }
        throw new NativeIoException(remote == null ? "send" : "sendto(" + remote + ")", e);
    }

    /**
     * Receives one datagram into {@code [address, address + length)}: its length (a longer one is
     * cut to {@code length}, as {@code recvfrom} does), or {@link #NO_DATAGRAM}. The sender's
     * {@code sockaddr_in6} is then {@link #lastSender()} until this thread's next receive.
     */
    public int receiveFrom(long address, int length) throws NativeIoException {
        refuseIfClosed("recvfrom");
        DatagramAddresses addresses = DATAGRAM_ADDRESSES.get();
        MemorySegment errno = Downcalls.threadErrnoState();
        long n;
        int e;
        do {
            addresses.sourceLength.set(JAVA_INT, 0, (int) sockaddr_in6.sizeof());
            n = LibC.recvfrom(errno, fd, MemorySegment.ofAddress(address), length, 0, addresses.source,
                    addresses.sourceLength);
            e = n >= 0 ? 0 : Downcalls.errno(errno);
        } while (e == LibC.EINTR);
        if (n >= 0) {
            return (int) n;
        }
        if (e == LibC.EAGAIN) {
            return NO_DATAGRAM;
        }
        throw new NativeIoException("recvfrom", e);
    }

    /** The sender of this thread's last {@link #receiveFrom}, as a {@code sockaddr_in6} (read it before the next). */
    public static MemorySegment lastSender() {
        return DATAGRAM_ADDRESSES.get().source;
    }

    /**
     * Joins, leaves, blocks or unblocks ({@code LibC.MCAST_*}) a multicast {@code group} on the
     * interface with index {@code interfaceIndex} (0: the kernel's choice), for datagrams from
     * {@code source} only, or from any source when it is null. The protocol-independent requests
     * serve IPv4 groups (at the IP level, v4-mapped on this dual-stack socket) and IPv6 ones alike.
     */
    public void multicast(int request, InetAddress group, int interfaceIndex, InetAddress source) throws NativeIoException {
        int level = group instanceof Inet4Address ? LibC.IPPROTO_IP : LibC.IPPROTO_IPV6;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment req;
            if (source == null) {
                req = group_req.allocate(arena);
                group_req.gr_interface(req, interfaceIndex);
                SocketAddresses.writeNative(group_req.gr_group(req), group);
            } else {
                req = group_source_req.allocate(arena);
                group_source_req.gsr_interface(req, interfaceIndex);
                SocketAddresses.writeNative(group_source_req.gsr_group(req), group);
                SocketAddresses.writeNative(group_source_req.gsr_source(req), source);
            }
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.setsockopt(errno, fd, level, request, req, (int) req.byteSize()) != 0) {
                throw new NativeIoException("setsockopt(MCAST " + request + ", " + group.getHostAddress()
                        + (source == null ? "" : " from " + source.getHostAddress()) + ")", Downcalls.errno(errno));
            }
        }
    }

    /** Sets an option whose value is raw bytes (an {@code in_addr}, say). */
    public void setBytesOption(int level, int name, byte[] value, String what) throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(value.length);
            MemorySegment.copy(value, 0, v, JAVA_BYTE, 0, value.length);
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.setsockopt(errno, fd, level, name, v, value.length) != 0) {
                throw new NativeIoException("setsockopt(" + what + ")", Downcalls.errno(errno));
            }
        }
    }

    /**
     * Whether a connection {@link #connect} left in progress is established already, without waiting
     * for writability: on loopback the kernel completes the handshake before {@code connect} returns
     * (it processes the peer's answer when the call releases the socket), and a stream socket has a
     * peer name only once established ({@code getpeername} fails while the SYN is out). False while
     * in progress, and on an error (which writability then reports).
     */
    public boolean isEstablished() {
        return peerIfEstablished() != null;
    }

    /** {@link #isEstablished}'s answer as the peer's address (one call for both), or null. */
    public InetSocketAddress peerIfEstablished() {
        CallScratch scratch = CALL_SCRATCH.get();
        return callName(false, scratch, Downcalls.threadErrnoState()) == 0 ? SocketAddresses.read(scratch.address) : null;
    }

    /** Completes a connection that {@link #connect} left in progress; true when it is established. */
    public boolean finishConnect(InetSocketAddress remote) throws IOException {
        int error = getIntOption(LibC.SOL_SOCKET, LibC.SO_ERROR, "SO_ERROR");
        if (error == 0) {
            return true;
        }
        if (error == LibC.EINPROGRESS || error == LibC.EALREADY) {
            return false;
        }
        throw connectException(remote, error);
    }

    /**
     * A failed connect as Netty's epoll transport reports it, so that an application's
     * retry or fallback (which catches {@link ConnectException} or {@link NoRouteToHostException})
     * tells it apart from an I/O error: no route to the host or its network is a
     * {@link NoRouteToHostException}, every other errno a {@link ConnectException}. The message names
     * the address and the errno; the {@link NativeIoException} (with the errno) is the cause.
     */
    static SocketException connectException(InetSocketAddress remote, int errno) {
        NativeIoException cause = new NativeIoException("connect(" + remote + ")", errno);
        SocketException e = errno == LibC.EHOSTUNREACH || errno == LibC.ENETUNREACH
                ? new NoRouteToHostException(cause.getMessage())
                : new ConnectException(cause.getMessage());
        e.initCause(cause);
        return e;
    }

    /** Reads into {@code [address, address + length)}: the count read, 0 if it would block, {@link #EOF}. */
    public int read(long address, int length) throws NativeIoException {
        refuseIfClosed("read");
        MemorySegment errno = Downcalls.threadErrnoState();
        long n = LibC.read(errno, fd, MemorySegment.ofAddress(address), length);
        if (n > 0) {
            return (int) n;
        }
        if (n == 0) {
            return EOF;
        }
        int e = Downcalls.errno(errno);
        if (e == LibC.EAGAIN || e == LibC.EINTR) {
            return 0;
        }
        throw new NativeIoException("read", e);
    }

    /** Writes from {@code [address, address + length)}: the count written, 0 if it would block. */
    public long write(long address, int length) throws NativeIoException {
        refuseIfClosed("send");
        MemorySegment errno = Downcalls.threadErrnoState();
        long n = LibC.send(errno, fd, MemorySegment.ofAddress(address), length, LibC.MSG_NOSIGNAL);
        return n >= 0 ? n : wouldBlockOrThrow("send", Downcalls.errno(errno));
    }

    /** Writes {@code count} {@code struct iovec}s at {@code iov} in one call: bytes written, 0 if it would block. */
    public long writev(MemorySegment iov, int count) throws NativeIoException {
        refuseIfClosed("writev");
        MemorySegment errno = Downcalls.threadErrnoState();
        long n = LibC.writev(errno, fd, iov, count);
        return n >= 0 ? n : wouldBlockOrThrow("writev", Downcalls.errno(errno));
    }

    /**
     * Sends up to {@code count} bytes of the file {@code fileFd} from {@code offset} with
     * {@code sendfile(2)} (the bytes go from the page cache to the socket inside the kernel, and the
     * file's own offset does not move): the count sent, 0 if the socket would block, {@link #EOF} when
     * the file has no byte at {@code offset} (and {@code count} is not 0).
     */
    public long sendFile(int fileFd, long offset, long count) throws NativeIoException {
        refuseIfClosed("sendfile");
        MemorySegment errno = Downcalls.threadErrnoState();
        MemorySegment off = SENDFILE_OFFSET.get();
        off.set(JAVA_LONG, 0, offset);
        long n = LibC.sendfile(errno, fd, fileFd, off, count);
        if (n > 0 || count == 0) {
            return n;
        }
        return n == 0 ? EOF : wouldBlockOrThrow("sendfile", Downcalls.errno(errno));
    }

    /**
     * Sends {@code value} as TCP urgent data: {@code send(fd, &value, 1, MSG_OOB | MSG_NOSIGNAL)}. The
     * peer reads it with {@link #readUrgent()}, out of band; it is not part of the stream that
     * {@link #read} returns. Only the latest urgent byte is kept out of band: if another is sent before
     * the peer read this one, Linux either drops this one (when the peer's in-band reads have reached
     * it) or hands it out as an ordinary in-band byte. Throws if the byte could not be queued
     * (including {@code EAGAIN} on a full send buffer).
     */
    public void sendUrgent(byte value) throws IOException {
        if (!trySendUrgent(value)) {
            throw new NativeIoException("send(MSG_OOB)", LibC.EAGAIN);
        }
    }

    /** As {@link #sendUrgent}, but false instead of an exception when the send buffer is full ({@code EAGAIN}). */
    public boolean trySendUrgent(byte value) throws IOException {
        refuseIfClosed("send(MSG_OOB)");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1);
            buf.set(JAVA_BYTE, 0, value);
            MemorySegment errno = Downcalls.threadErrnoState();
            long n;
            int e;
            do {
                n = LibC.send(errno, fd, buf, 1, LibC.MSG_OOB | LibC.MSG_NOSIGNAL);
                e = n >= 0 ? 0 : Downcalls.errno(errno);
            } while (e == LibC.EINTR);
            if (n < 0 && e == LibC.EAGAIN) {
                return false;
            }
            if (n < 0) {
                throw new NativeIoException("send(MSG_OOB)", e);
            }
            if (n == 0) {
                throw new IOException("send(MSG_OOB) sent nothing");
            }
            return true;
        }
    }

    /**
     * Reads as {@link #read} does, but never past the peer's urgent mark: {@link #AT_MARK} once the
     * in-band reads have reached it (the urgent byte and what follows it are left for the caller).
     * Race-free where a plain read is not: a read that starts at a mark whose urgent pointer arrives
     * just before it would skip the byte and return what follows, so this peeks, asks {@link #atMark},
     * and reads only the bytes it peeked (they lie before any mark). Three system calls a read: for a
     * reader that expects a mark, not for the data path.
     */
    public int readBeforeMark(long address, int length) throws IOException {
        int n = peek(address, length);
        if (n == EOF) {
            return EOF;
        }
        if (atMark()) {
            return AT_MARK;
        }
        if (n == 0) {
            return 0;
        }
        int read = read(address, n);
        if (read != n) {
            throw new IOException("a read of " + n + " peeked bytes returned " + read);
        }
        return n;
    }

    /**
     * Looks at up to {@code length} in-band bytes without taking them: the count, 0 if none is
     * there yet, {@link #EOF} at end of stream. Unlike a read, a peek never moves past (and so
     * never clears) pending urgent data.
     */
    public int peek(long address, int length) throws NativeIoException {
        refuseIfClosed("recv(MSG_PEEK)");
        MemorySegment errno = Downcalls.threadErrnoState();
        long n;
        int e;
        do {
            n = LibC.recv(errno, fd, MemorySegment.ofAddress(address), length, LibC.MSG_PEEK | LibC.MSG_DONTWAIT);
            e = n >= 0 ? 0 : Downcalls.errno(errno);
        } while (e == LibC.EINTR);
        if (n > 0) {
            return (int) n;
        }
        if (n == 0) {
            return EOF;
        }
        if (e == LibC.EAGAIN) {
            return 0;
        }
        throw new NativeIoException("recv(MSG_PEEK)", e);
    }

    /**
     * Reads the pending urgent byte, {@code recv(fd, buf, 1, MSG_OOB)}, which never blocks: the byte
     * as 0..255; {@link #URGENT_NOT_YET} when the peer's urgent pointer has arrived but the byte has
     * not ({@code EAGAIN}); {@link #URGENT_NONE} when there is none ({@code EINVAL}: none was sent, it
     * was already read, or an in-band {@link #read} already went past it, which discards it), and
     * also when the stream ended before an announced byte arrived (the call returns 0). The byte is
     * flagged by {@code EPOLLPRI}; read it before reading in-band data past it.
     */
    public int readUrgent() throws NativeIoException {
        refuseIfClosed("recv(MSG_OOB)");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(1);
            MemorySegment errno = Downcalls.threadErrnoState();
            long n;
            int e;
            do {
                n = LibC.recv(errno, fd, buf, 1, LibC.MSG_OOB);
                e = n >= 0 ? 0 : Downcalls.errno(errno);
            } while (e == LibC.EINTR);
            if (n > 0) {
                return Byte.toUnsignedInt(buf.get(JAVA_BYTE, 0));
            }
            if (n == 0 || e == LibC.EINVAL) {
                return URGENT_NONE;
            }
            if (e == LibC.EAGAIN) {
                return URGENT_NOT_YET;
            }
            throw new NativeIoException("recv(MSG_OOB)", e);
        }
    }

    /**
     * True when the next in-band byte is where the peer's pending urgent byte was sent ({@code
     * sockatmark}): the urgent pointer has arrived (the byte itself perhaps not yet) and the in-band
     * reads have reached it. An in-band read never passes the mark once it read anything, but a read
     * that starts at it skips the urgent byte and goes on with what follows: a reader that must know
     * where the mark lies {@link #peek}s, asks this, and reads only what it peeked when false.
     */
    public boolean atMark() throws NativeIoException {
        refuseIfClosed("sockatmark");
        MemorySegment errno = Downcalls.threadErrnoState();
        int r = LibC.sockatmark(errno, fd);
        if (r < 0) {
            throw new NativeIoException("sockatmark", Downcalls.errno(errno));
        }
        return r == 1;
    }

    private static long wouldBlockOrThrow(String call, int errno) throws NativeIoException {
        if (errno == LibC.EAGAIN || errno == LibC.EINTR) {
            return 0;
        }
        throw new NativeIoException(call, errno);
    }

    public void shutdown(boolean input, boolean output) throws NativeIoException {
        if (!input && !output) {
            return;
        }
        int how = input && output ? LibC.SHUT_RDWR : input ? LibC.SHUT_RD : LibC.SHUT_WR;
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.shutdown(errno, fd, how) != 0) {
            int e = Downcalls.errno(errno);
            if (e != LibC.ENOTCONN) {
                throw new NativeIoException("shutdown", e);
            }
        }
        inputShutdown |= input;
        outputShutdown |= output;
    }

    public boolean isInputShutdown() {
        return inputShutdown;
    }

    public boolean isOutputShutdown() {
        return outputShutdown;
    }

    public InetSocketAddress localAddress() throws NativeIoException {
        return name(true);
    }

    public InetSocketAddress remoteAddress() throws NativeIoException {
        return name(false);
    }

    private InetSocketAddress name(boolean local) throws NativeIoException {
        CallScratch scratch = CALL_SCRATCH.get();
        MemorySegment errno = Downcalls.threadErrnoState();
        if (callName(local, scratch, errno) != 0) {
            throw new NativeIoException(local ? "getsockname" : "getpeername", Downcalls.errno(errno));
        }
        return SocketAddresses.read(scratch.address);
    }

    /** {@code getsockname} or {@code getpeername} into {@code scratch}'s address: the call's result. */
    private int callName(boolean local, CallScratch scratch, MemorySegment errno) {
        MemorySegment sa = scratch.address;
        MemorySegment len = scratch.length;
        len.set(JAVA_INT, 0, (int) sockaddr_in6.sizeof());
        return local ? LibC.getsockname(errno, fd, sa, len) : LibC.getpeername(errno, fd, sa, len);
    }

    public void setIntOption(int level, int name, int value, String what) throws NativeIoException {
        MemorySegment v = CALL_SCRATCH.get().value;
        v.set(JAVA_INT, 0, value);
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.setsockopt(errno, fd, level, name, v, 4) != 0) {
            throw new NativeIoException("setsockopt(" + what + ")", Downcalls.errno(errno));
        }
    }

    public int getIntOption(int level, int name, String what) throws NativeIoException {
        CallScratch scratch = CALL_SCRATCH.get();
        MemorySegment v = scratch.value;
        MemorySegment len = scratch.length;
        len.set(JAVA_INT, 0, 4);
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.getsockopt(errno, fd, level, name, v, len) != 0) {
            throw new NativeIoException("getsockopt(" + what + ")", Downcalls.errno(errno));
        }
        return v.get(JAVA_INT, 0);
    }

    /**
     * The traffic class (IPv4's TOS byte, or IPv6's traffic class) of the SYN that opened this
     * accepted connection, as its listener saved it ({@code TCP_SAVE_SYN}); -1 when none was saved.
     * The kernel lets go of the saved headers once read ({@code TCP_SAVED_SYN}), so this answers once.
     */
    public int savedSynTrafficClass() throws NativeIoException {
        refuseIfClosed("getsockopt(TCP_SAVED_SYN)");
        CallScratch scratch = CALL_SCRATCH.get();
        MemorySegment syn = scratch.syn;
        MemorySegment len = scratch.length;
        len.set(JAVA_INT, 0, SAVED_SYN_MAX);
        MemorySegment errno = Downcalls.threadErrnoState();
        if (LibC.getsockopt(errno, fd, LibC.IPPROTO_TCP, LibC.TCP_SAVED_SYN, syn, len) != 0) {
            throw new NativeIoException("getsockopt(TCP_SAVED_SYN)", Downcalls.errno(errno));
        }
        int n = len.get(JAVA_INT, 0);
        if (n < 2) {
            return -1;
        }
        int first = Byte.toUnsignedInt(syn.get(JAVA_BYTE, 0));
        int second = Byte.toUnsignedInt(syn.get(JAVA_BYTE, 1));
        return switch (first >>> 4) {
            case 4 -> second; // IPv4: the TOS byte follows version and header length
            case 6 -> (first & 0x0f) << 4 | second >>> 4; // IPv6: the class straddles the first two bytes
            default -> -1;
        };
    }

    /** {@code SO_LINGER}: seconds, or -1 when off. */
    public void setLinger(int seconds) throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment l = linger.allocate(arena);
            linger.l_onoff(l, seconds >= 0 ? 1 : 0);
            linger.l_linger(l, Math.max(seconds, 0));
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.setsockopt(errno, fd, LibC.SOL_SOCKET, LibC.SO_LINGER, l, (int) linger.sizeof()) != 0) {
                throw new NativeIoException("setsockopt(SO_LINGER)", Downcalls.errno(errno));
            }
        }
    }

    public int getLinger() throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment l = linger.allocate(arena);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, (int) linger.sizeof());
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.getsockopt(errno, fd, LibC.SOL_SOCKET, LibC.SO_LINGER, l, len) != 0) {
                throw new NativeIoException("getsockopt(SO_LINGER)", Downcalls.errno(errno));
            }
            return linger.l_onoff(l) == 0 ? -1 : linger.l_linger(l);
        }
    }

    /** Closes the descriptor once; later calls do nothing. */
    @Override
    public void close() throws NativeIoException {
        synchronized (this) {
            if (!open) {
                return;
            }
            open = false;
        }
        FileDescriptors.close(fd, "socket " + fd);
    }

    /**
     * A closed socket never reaches its old descriptor number: the number may already belong to
     * another socket (any thread's next open takes the lowest free one), whose bytes a read would
     * take. Throws what the call would have met without the reuse, {@code EBADF}.
     */
    private void refuseIfClosed(String call) throws NativeIoException {
        if (!open) {
            throw new NativeIoException(call, LibC.EBADF);
        }
    }

    /** Throws {@link ClosedChannelException} once closed. */
    public void ensureOpen() throws ClosedChannelException {
        if (!open) {
            throw new ClosedChannelException();
        }
    }

    /** One thread's datagram addresses: where {@code sendto} reads its destination, {@code recvfrom} writes its source. */
    private static final class DatagramAddresses {
        final MemorySegment destinationAddress;
        final MemorySegment source;
        final MemorySegment sourceLength;
        /** The address {@link #destinationAddress} holds (by identity: a reply often reuses the same object). */
        private InetSocketAddress written;

        DatagramAddresses() {
            Arena arena = Arena.ofAuto();
            destinationAddress = sockaddr_in6.allocate(arena);
            source = sockaddr_in6.allocate(arena);
            sourceLength = arena.allocate(JAVA_INT);
        }

        MemorySegment destination(InetSocketAddress remote) {
            if (remote != written) {
                SocketAddresses.write(destinationAddress, remote);
                written = remote;
            }
            return destinationAddress;
        }
    }

    @Override
    public String toString() {
        return "NativeSocket(fd " + fd + (open ? "" : ", closed") + ")";
    }
}
