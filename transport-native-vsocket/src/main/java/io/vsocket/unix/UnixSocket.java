package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.cmsghdr;
import io.vsocket.ffm.libc.iovec;
import io.vsocket.ffm.libc.msghdr;
import io.vsocket.ffm.libc.sockaddr_un;
import io.vsocket.ffm.libc.ucred;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The owner of one non-blocking, close-on-exec {@code AF_UNIX} stream socket in Linux's abstract
 * namespace: the control channel of a shared-memory link, over which the two sides pass descriptors
 * ({@code SCM_RIGHTS}) and check each other's credentials ({@code SO_PEERCRED}). Abstract names need
 * no file to create or clean up and vanish when the last socket bound to them closes.
 *
 * <p>Calls never block: {@link #accept()} and {@link #receive} return null when nothing is pending.
 * Failures throw {@link NativeIoException} naming the call and the address. Closing is idempotent;
 * other calls after it throw {@link ClosedChannelException} ({@link #fd()}: {@link IllegalStateException}).
 * Like {@link NativeSocket}, one thread (the event loop) is expected to use and close a socket.
 */
public final class UnixSocket implements AutoCloseable {
    /** {@code sizeof(sun_path) - 1}: the leading NUL takes one byte. */
    public static final int MAX_NAME_BYTES = sockaddr_un.SUN_PATH_SIZE - 1;
    /**
     * The most descriptors one message can carry ({@code SCM_MAX_FD}). Every receive makes room for
     * them all: the kernel closes those that do not fit on the receiving thread, where a peer's file can
     * hold the close (see {@link PeerDescriptors}).
     */
    static final int MAX_PASSED = 253;
    /** The control buffer every receive offers: room for {@link #MAX_PASSED} descriptors. */
    private static final long CONTROL_SIZE = LibC.CMSG_SPACE((long) MAX_PASSED * Integer.BYTES);

    private final int fd;
    /** The abstract name as {@code ss} prints it, with {@code @} for the leading NUL; for messages. */
    private final String address;
    private volatile boolean open = true;

    private UnixSocket(int fd, String address) {
        this.fd = fd;
        this.address = address;
    }

    /**
     * What one {@link #receive} got: the bytes read and the descriptors that arrived with them, now
     * owned by the caller (close-on-exec; adopt them or {@link FileDescriptors#closeQuietly close} them).
     * Empty {@code data} with no descriptors means the peer closed its end.
     */
    public record Received(byte[] data, int[] fds) {
        public boolean isEndOfStream() {
            return data.length == 0 && fds.length == 0;
        }

        @Override
        public String toString() {
            return "Received(" + data.length + " bytes, fds " + Arrays.toString(fds) + ")";
        }
    }

    /** The peer's credentials as the kernel recorded them when the connection was made ({@code SO_PEERCRED}). */
    public record PeerCredentials(int pid, int uid, int gid) {
    }

    /** This process's real user id ({@code getuid}), to compare with {@link PeerCredentials#uid()}. */
    public static int currentUid() {
        return LibC.getuid();
    }

    /** Binds a listening socket to the abstract name {@code abstractName} (given without the leading NUL). */
    public static UnixSocket listen(String abstractName, int backlog) throws IOException {
        String address = "@" + abstractName;
        UnixSocket socket = newSocket(address);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr_un.allocate(arena);
            int len = writeAbstract(sa, abstractName);
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.bind(errno, socket.fd, sa, len) != 0) {
                throw new NativeIoException("bind(" + address + ")", Downcalls.errno(errno));
            }
            if (LibC.listen(errno, socket.fd, backlog) != 0) {
                throw new NativeIoException("listen(" + address + ")", Downcalls.errno(errno));
            }
            return socket;
        } catch (IOException | RuntimeException e) {
            socket.closeQuietly();
            throw e;
        }
    }

    /**
     * Connects to the abstract name {@code abstractName}. A unix-socket connect completes at once or
     * fails: nobody listening ({@code ECONNREFUSED}, {@code ENOENT}) is a {@link ConnectException}
     * naming the address; a full backlog ({@code EAGAIN}) is a {@link NativeIoException}.
     */
    public static UnixSocket connect(String abstractName) throws IOException {
        String address = "@" + abstractName;
        UnixSocket socket = newSocket(address);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr_un.allocate(arena);
            int len = writeAbstract(sa, abstractName);
            MemorySegment errno = Downcalls.threadErrnoState();
            int rc;
            int e;
            do {
                rc = LibC.connect(errno, socket.fd, sa, len);
                e = rc == 0 ? 0 : Downcalls.errno(errno);
            } while (e == LibC.EINTR);
            if (rc != 0) {
                NativeIoException cause = new NativeIoException("connect(" + address + ")", e);
                if (e == LibC.ECONNREFUSED || e == LibC.ENOENT) {
                    ConnectException refused = new ConnectException(cause.getMessage());
                    refused.initCause(cause);
                    throw refused;
                }
                throw cause;
            }
            return socket;
        } catch (IOException | RuntimeException e) {
            socket.closeQuietly();
            throw e;
        }
    }

    private static UnixSocket newSocket(String address) throws NativeIoException {
        MemorySegment errno = Downcalls.threadErrnoState();
        int fd = LibC.socket(errno, LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new NativeIoException("socket(AF_UNIX, SOCK_STREAM) for " + address, Downcalls.errno(errno));
        }
        return new UnixSocket(fd, address);
    }

    /** Fills {@code sa} with the abstract address; returns the exact address length to pass the kernel. */
    private static int writeAbstract(MemorySegment sa, String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("abstract socket name must be 1.." + MAX_NAME_BYTES
                    + " bytes of UTF-8: \"" + name + "\"");
        }
        sa.fill((byte) 0);
        sockaddr_un.sun_family(sa, (short) LibC.AF_UNIX);
        MemorySegment.copy(bytes, 0, sockaddr_un.sun_path(sa), JAVA_BYTE, 1, bytes.length); // sun_path[0] = NUL
        return (int) sockaddr_un.sun_path$OFFSET + 1 + bytes.length;
    }

    /** Accepts one pending connection as a non-blocking, close-on-exec socket, or returns null when none is pending. */
    public UnixSocket accept() throws IOException {
        ensureOpen();
        MemorySegment errno = Downcalls.threadErrnoState();
        int child = LibC.accept4(errno, fd, MemorySegment.NULL, MemorySegment.NULL,
                LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
        if (child < 0) {
            int e = Downcalls.errno(errno);
            if (e == LibC.EAGAIN || e == LibC.EINTR) {
                return null;
            }
            throw new NativeIoException("accept4(" + address + ")", e);
        }
        return new UnixSocket(child, address);
    }

    /** The descriptor, still owned by this object (register it with epoll, do not close it). */
    public int fd() {
        if (!open) {
            throw new IllegalStateException(this + " is closed");
        }
        return fd;
    }

    public boolean isOpen() {
        return open;
    }

    /**
     * Sends all of {@code data} in one {@code sendmsg} ({@code MSG_NOSIGNAL}), with {@code fds} as one
     * {@code SCM_RIGHTS} control message when there are any; the descriptors stay owned by the caller
     * (the peer gets its own). {@code data} must not be empty: a stream socket delivers descriptors
     * only together with at least one byte. This is for small control messages: a send the kernel
     * cannot take whole at once (a full socket buffer, including {@code EAGAIN}) throws, as does a
     * short send.
     */
    public void send(byte[] data, int... fds) throws IOException {
        ensureOpen();
        send(fd, address, data, fds);
    }

    /**
     * {@link #send(byte[], int...)} on a raw connected Unix socket {@code fd} that no {@code UnixSocket}
     * owns ({@code what} names it in errors).
     */
    public static void send(int fd, String what, byte[] data, int... fds) throws IOException {
        if (data.length == 0) {
            throw new IllegalArgumentException("nothing to send: a stream socket needs at least one byte"
                    + (fds.length > 0 ? " to carry descriptors" : ""));
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocateFrom(JAVA_BYTE, data);
            MemorySegment iov = iovec.allocate(arena);
            iovec.iov_base(iov, buf);
            iovec.iov_len(iov, data.length);
            MemorySegment msg = msghdr.allocate(arena);
            msghdr.msg_iov(msg, iov);
            msghdr.msg_iovlen(msg, 1);
            if (fds.length > 0) {
                long payload = (long) fds.length * Integer.BYTES;
                MemorySegment control = arena.allocate(LibC.CMSG_SPACE(payload), cmsghdr.LAYOUT.byteAlignment());
                cmsghdr.cmsg_len(control, LibC.CMSG_LEN(payload));
                cmsghdr.cmsg_level(control, LibC.SOL_SOCKET);
                cmsghdr.cmsg_type(control, LibC.SCM_RIGHTS);
                MemorySegment.copy(fds, 0, control, JAVA_INT, LibC.CMSG_LEN(0), fds.length);
                msghdr.msg_control(msg, control);
                msghdr.msg_controllen(msg, control.byteSize());
            }
            MemorySegment errno = Downcalls.threadErrnoState();
            long n;
            int e;
            do {
                n = LibC.sendmsg(errno, fd, msg, LibC.MSG_NOSIGNAL);
                e = n >= 0 ? 0 : Downcalls.errno(errno);
            } while (e == LibC.EINTR);
            if (n < 0) {
                throw new NativeIoException("sendmsg(" + what + ", " + data.length + " bytes, "
                        + fds.length + " fds)", e);
            }
            if (n != data.length) {
                throw new IOException("sendmsg(" + what + ") sent only " + n + " of " + data.length + " bytes");
            }
        }
    }

    /**
     * One non-blocking {@code recvmsg} of up to {@code maxBytes} bytes and {@code maxFds} descriptors
     * ({@code MSG_CMSG_CLOEXEC}, so they arrive close-on-exec). Returns null when nothing is pending,
     * a {@link Received#isEndOfStream() end of stream} when the peer has closed. If the peer sent more
     * descriptors than {@code maxFds}, or the kernel could not pass them all ({@code MSG_CTRUNC}: this
     * process is out of descriptors), every descriptor that did arrive is {@linkplain PeerDescriptors
     * closed} and an {@link IOException} is thrown: the connection should be dropped.
     */
    public Received receive(int maxBytes, int maxFds) throws IOException {
        ensureOpen();
        if (maxBytes <= 0 || maxFds < 0) {
            throw new IllegalArgumentException("maxBytes " + maxBytes + ", maxFds " + maxFds);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(maxBytes);
            MemorySegment msg = receiveMessage(arena, buf);
            MemorySegment errno = Downcalls.threadErrnoState();
            long n;
            int e;
            do {
                n = LibC.recvmsg(errno, fd, msg, LibC.MSG_CMSG_CLOEXEC | LibC.MSG_DONTWAIT);
                e = n >= 0 ? 0 : Downcalls.errno(errno);
            } while (e == LibC.EINTR);
            if (n < 0) {
                if (e == LibC.EAGAIN) {
                    return null;
                }
                throw new NativeIoException("recvmsg(" + address + ")", e);
            }
            int[] fds = receivedFds(msg);
            boolean truncated = (msghdr.msg_flags(msg) & LibC.MSG_CTRUNC) != 0;
            if (truncated || fds.length > maxFds) {
                PeerDescriptors.close(fds);
                throw new IOException("recvmsg(" + address + "): " + (truncated
                        ? "control data truncated (MSG_CTRUNC): this process is out of descriptors" : "the peer sent "
                        + fds.length + " descriptors, more than " + maxFds) + "; closed the " + fds.length + " that arrived");
            }
            return new Received(buf.asSlice(0, n).toArray(JAVA_BYTE), fds);
        }
    }

    /**
     * A {@code msghdr} for one {@code recvmsg} into {@code buf}, with room for {@link #MAX_PASSED}
     * descriptors. Its {@code msg_controllen} must be set again before each further call.
     */
    static MemorySegment receiveMessage(Arena arena, MemorySegment buf) {
        MemorySegment iov = iovec.allocate(arena);
        iovec.iov_base(iov, buf);
        iovec.iov_len(iov, buf.byteSize());
        MemorySegment msg = msghdr.allocate(arena);
        msghdr.msg_iov(msg, iov);
        msghdr.msg_iovlen(msg, 1);
        MemorySegment control = arena.allocate(CONTROL_SIZE, cmsghdr.LAYOUT.byteAlignment());
        msghdr.msg_control(msg, control);
        msghdr.msg_controllen(msg, control.byteSize());
        return msg;
    }

    /** The descriptors a {@code recvmsg} into {@code msg} (from {@link #receiveMessage}) passed; then makes it ready for the next. */
    static int[] receivedFds(MemorySegment msg) {
        MemorySegment control = msghdr.msg_control(msg).reinterpret(CONTROL_SIZE);
        long length = msghdr.msg_controllen(msg);
        int[] fds = length == 0 ? new int[0] : receivedFds(control, length);
        msghdr.msg_controllen(msg, control.byteSize());
        return fds;
    }

    /** The descriptors of every {@code SCM_RIGHTS} message in the first {@code length} bytes of {@code control}. */
    private static int[] receivedFds(MemorySegment control, long length) {
        int[] fds = new int[0];
        long header = cmsghdr.sizeof();
        long offset = 0;
        // CMSG_FIRSTHDR / CMSG_NXTHDR: a header must fit, and its cmsg_len must stay inside the buffer.
        while (offset + header <= length) {
            MemorySegment cmsg = control.asSlice(offset);
            long len = cmsghdr.cmsg_len(cmsg);
            if (len < header || offset + len > length) {
                break;
            }
            if (cmsghdr.cmsg_level(cmsg) == LibC.SOL_SOCKET && cmsghdr.cmsg_type(cmsg) == LibC.SCM_RIGHTS) {
                int count = (int) ((len - LibC.CMSG_LEN(0)) / Integer.BYTES);
                int[] more = cmsg.asSlice(LibC.CMSG_LEN(0), (long) count * Integer.BYTES).toArray(JAVA_INT);
                int[] all = Arrays.copyOf(fds, fds.length + count);
                System.arraycopy(more, 0, all, fds.length, count);
                fds = all;
            }
            offset += LibC.CMSG_ALIGN(len);
        }
        return fds;
    }

    /** The peer's pid, uid and gid ({@code SO_PEERCRED}), as they were when it connected. */
    public PeerCredentials peerCredentials() throws IOException {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cred = ucred.allocate(arena);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, (int) ucred.sizeof());
            MemorySegment errno = Downcalls.threadErrnoState();
            if (LibC.getsockopt(errno, fd, LibC.SOL_SOCKET, LibC.SO_PEERCRED, cred, len) != 0) {
                throw new NativeIoException("getsockopt(" + address + ", SO_PEERCRED)", Downcalls.errno(errno));
            }
            return new PeerCredentials(ucred.pid(cred), ucred.uid(cred), ucred.gid(cred));
        }
    }

    /**
     * Closes the descriptor once; later calls do nothing. Descriptors a peer queued to this socket and
     * nobody read would be released by the close, on this thread, where a peer's file can hold it
     * ({@link PeerDescriptors}): so the socket first stops taking more ({@code shutdown(SHUT_RD)}), and
     * what it holds is read out and those descriptors closed as a peer's are. A listener first takes its
     * pending connections, for the same reason.
     */
    @Override
    public void close() throws NativeIoException {
        synchronized (this) {
            if (!open) {
                return;
            }
            open = false;
        }
        emptyBeforeClose(fd);
        FileDescriptors.close(fd, address);
    }

    /** Leaves nothing a peer passed in {@code fd}'s queues (see {@link #close()}). */
    static void emptyBeforeClose(int fd) {
        MemorySegment errno = Downcalls.threadErrnoState();
        int child;
        while ((child = LibC.accept4(errno, fd, MemorySegment.NULL, MemorySegment.NULL,
                LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC)) >= 0) {
            emptyBeforeClose(child);
            FileDescriptors.closeQuietly(child);
        }
        try (Arena arena = Arena.ofConfined()) {
            shutAndEmpty(errno, fd, receiveMessage(arena, arena.allocate(4096)));
        }
    }

    /**
     * Shuts {@code fd} for reading, so that nothing more can come, and reads out what is queued into
     * {@code msg} to the very end (a read stops short of a message that carries descriptors, not only at
     * the end), closing any descriptors that came off this thread ({@link PeerDescriptors}).
     */
    static void shutAndEmpty(MemorySegment errno, int fd, MemorySegment msg) {
        LibC.shutdown(errno, fd, LibC.SHUT_RD);
        while (LibC.recvmsg(errno, fd, msg, LibC.MSG_CMSG_CLOEXEC | LibC.MSG_DONTWAIT) > 0) {
            PeerDescriptors.close(receivedFds(msg));
        }
    }

    /**
     * Gives up this object's ownership of its descriptor and returns it, open, for a new owner (a
     * connection that becomes a {@link Doorbell}); this object is closed from then on.
     */
    public int release() throws ClosedChannelException {
        synchronized (this) {
            ensureOpen();
            open = false;
        }
        return fd;
    }

    private void closeQuietly() {
        try {
            close();
        } catch (NativeIoException ignored) {
            // the descriptor is released anyway
        }
    }

    /** Throws {@link ClosedChannelException} once closed. */
    public void ensureOpen() throws ClosedChannelException {
        if (!open) {
            throw new ClosedChannelException();
        }
    }

    @Override
    public String toString() {
        return "UnixSocket(" + address + ", fd " + fd + (open ? "" : ", closed") + ")";
    }
}
