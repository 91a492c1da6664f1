package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.inet_diag_msg;
import io.vsocket.ffm.libc.inet_diag_req_v2;
import io.vsocket.ffm.libc.inet_diag_sockid;
import io.vsocket.ffm.libc.nlmsgerr;
import io.vsocket.ffm.libc.nlmsghdr;
import io.vsocket.ffm.libc.sockaddr_in6;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;

/**
 * Who holds the other end of a TCP connection whose two ends are on this host, as the kernel tells it
 * ({@code NETLINK_SOCK_DIAG}, the lookup {@code ss} makes): the peer's socket is found by the
 * connection's addresses, and a socket no process holds has no inode. That tells a peer that is still
 * there from one that closed, or whose process ended, while its kernel still sends what it had
 * written: such a socket answers any byte sent to it with a reset, and the reset throws away what it
 * had not sent yet. One netlink socket per lookup (a few microseconds), closed before it returns.
 */
public enum TcpPeerEnd {
    /** A process holds the peer's socket, and its kernel has delivered all it was given: it can read what is sent to it. */
    HELD,
    /**
     * A process holds the peer's socket, and its kernel still has bytes of the peer's to deliver (or to see
     * acknowledged: {@code idiag_wqueue}): should the process end now with something unread, they would be lost.
     */
    SENDING,
    /**
     * The peer's socket is there but no process holds it (closed, or its process ended): the kernel
     * still delivers what it had, and answers anything sent to it with a reset.
     */
    RELEASED,
    /** No socket with the connection's addresses in this network namespace (gone, or elsewhere). */
    ABSENT,
    /** The kernel could not be asked (no sock_diag here, or the lookup failed). */
    UNKNOWN;

    /** A reply is one {@code inet_diag_msg} and a few attributes; anything past this is cut off and not needed. */
    private static final int REPLY_BYTES = 1024;

    /** The other end of {@code socket}'s connection (a connected TCP socket of this host). */
    public static TcpPeerEnd of(NativeSocket socket) {
        InetSocketAddress local;
        InetSocketAddress remote;
        try {
            local = socket.localAddress();
            remote = socket.remoteAddress();
        } catch (NativeIoException e) {
            return UNKNOWN;
        }
        // The peer's socket runs from this side's remote address to its local one.
        return lookUp(remote, local);
    }

    /**
     * Set once this host refused a netlink socket for the lookup (no sock_diag, or a policy says no): later lookups
     * answer {@link #UNKNOWN} at once instead of asking again on every connection.
     */
    private static volatile boolean refused;

    /** The socket of this host connected from {@code peerLocal} to {@code peerRemote}: who holds it. */
    static TcpPeerEnd lookUp(InetSocketAddress peerLocal, InetSocketAddress peerRemote) {
        if (refused) {
            return UNKNOWN;
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        int fd = LibC.socket(errno, LibC.AF_NETLINK, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, LibC.NETLINK_SOCK_DIAG);
        if (fd < 0) {
            int e = Downcalls.errno(errno);
            if (e != LibC.EMFILE && e != LibC.ENFILE && e != LibC.ENOBUFS && e != LibC.ENOMEM) {
                refused = true; // (running out of descriptors or memory passes; anything else stays)
            }
            return UNKNOWN;
        }
        try (Arena arena = Arena.ofConfined()) {
            long requestBytes = nlmsghdr.sizeof() + inet_diag_req_v2.sizeof();
            MemorySegment request = arena.allocate(requestBytes, 8);
            nlmsghdr.nlmsg_len(request, (int) requestBytes);
            nlmsghdr.nlmsg_type(request, (short) LibC.SOCK_DIAG_BY_FAMILY);
            nlmsghdr.nlmsg_flags(request, (short) LibC.NLM_F_REQUEST);
            MemorySegment body = request.asSlice(nlmsghdr.sizeof());
            inet_diag_req_v2.sdiag_family(body, (byte) LibC.AF_INET6);
            inet_diag_req_v2.sdiag_protocol(body, (byte) LibC.IPPROTO_TCP);
            inet_diag_req_v2.idiag_states(body, -1);
            MemorySegment id = inet_diag_req_v2.id(body);
            // v4-mapped addresses in an AF_INET6 request: the kernel looks them up as IPv4.
            MemorySegment sa = arena.allocate(sockaddr_in6.LAYOUT);
            SocketAddresses.write(sa, peerLocal);
            inet_diag_sockid.idiag_sport(id, sockaddr_in6.sin6_port(sa));
            MemorySegment.copy(sockaddr_in6.sin6_addr(sa), 0, inet_diag_sockid.idiag_src(id), 0, 16);
            SocketAddresses.write(sa, peerRemote);
            inet_diag_sockid.idiag_dport(id, sockaddr_in6.sin6_port(sa));
            MemorySegment.copy(sockaddr_in6.sin6_addr(sa), 0, inet_diag_sockid.idiag_dst(id), 0, 16);
            MemorySegment cookie = inet_diag_sockid.idiag_cookie(id);
            cookie.fill((byte) 0xff); // INET_DIAG_NOCOOKIE in both words
            if (LibC.send(errno, fd, request, requestBytes, 0) != requestBytes) {
                return UNKNOWN;
            }
            // The kernel answers within the send; a reply that is not there yet is not waited for.
            MemorySegment reply = arena.allocate(REPLY_BYTES, 8);
            long n = LibC.recv(errno, fd, reply, REPLY_BYTES, LibC.MSG_DONTWAIT);
            return n < 0 ? UNKNOWN : read(reply, n);
        } finally {
            LibC.close(errno, fd);
        }
    }

    /** The reply's meaning: an {@code inet_diag_msg} (held, or not), or an error ({@code ENOENT}: none). */
    static TcpPeerEnd read(MemorySegment reply, long length) {
        if (length < nlmsghdr.sizeof()) {
            return UNKNOWN;
        }
        int type = Short.toUnsignedInt(nlmsghdr.nlmsg_type(reply));
        MemorySegment body = reply.asSlice(nlmsghdr.sizeof());
        if (type == LibC.NLMSG_ERROR && length >= nlmsghdr.sizeof() + Integer.BYTES) {
            return nlmsgerr.error(body) == -LibC.ENOENT ? ABSENT : UNKNOWN;
        }
        if (type == LibC.SOCK_DIAG_BY_FAMILY && length >= nlmsghdr.sizeof() + inet_diag_msg.sizeof()) {
            if (inet_diag_msg.idiag_inode(body) == 0) {
                return RELEASED;
            }
            return inet_diag_msg.idiag_wqueue(body) != 0 ? SENDING : HELD;
        }
        return UNKNOWN;
    }
}
