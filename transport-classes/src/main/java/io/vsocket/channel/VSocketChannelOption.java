package io.vsocket.channel;

import io.netty.channel.ChannelOption;
import io.vsocket.link.VSocketLink;

import java.util.List;

/**
 * The options vsocket adds to Netty's. Set them as any option: {@code bootstrap.option(...)} on a
 * client, {@code childOption(...)} for a server's connections.
 */
public final class VSocketChannelOption<T> extends ChannelOption<T> {

    /**
     * The links a connection may use, in order of preference. The default comes from the system
     * property {@code io.vsocket.links} (a comma list of {@code shm}, {@code rdma}, {@code tcp}),
     * else {@code shm,rdma,tcp}. A connection that can use none of them fails and says why.
     */
    public static final ChannelOption<List<VSocketLink>> LINKS = valueOf(VSocketChannelOption.class, "VSOCKET_LINKS");

    /**
     * Bytes in this side's receive ring (a power of two, 4 KiB to 64 MiB): what the peer may send
     * before this side reads. Unset (or set to 0), each link's default: {@link
     * VSocketLinks#DEFAULT_SHM_RING_SIZE} (1 MiB) on shm, {@link VSocketLinks#DEFAULT_RDMA_RING_SIZE}
     * (256 KiB) on rdma, where the ring is pinned memory; reading the option then gives 0.
     */
    public static final ChannelOption<Integer> RING_SIZE = valueOf(VSocketChannelOption.class, "VSOCKET_RING_SIZE");

    /**
     * How long the hello may take, in milliseconds: a server waits this long for a client's first
     * bytes before treating it as plain TCP, a client that allows tcp this long for the server's
     * hello. A client whose links leave tcp out cannot go on without the hello: it waits for the
     * offer as long as its {@code CONNECT_TIMEOUT_MILLIS} (an offer late under load is still taken),
     * and once part of an offer came, this long for the rest. Default
     * {@link VSocketLinks#DEFAULT_HELLO_TIMEOUT_MILLIS}.
     */
    public static final ChannelOption<Integer> HELLO_TIMEOUT_MILLIS =
            valueOf(VSocketChannelOption.class, "VSOCKET_HELLO_TIMEOUT_MILLIS");

    /**
     * Whether the shm link may hand bytes to the pipeline as they lie in its receive ring, without
     * copying them out (stretches of at least 4 KiB; at most half the ring on loan at once, the rest
     * copied). The stretch goes back to the ring when the buffer is released; a buffer held for long
     * costs ring space, never a stall. Default from the system property
     * {@code io.vsocket.receiveInPlace}, else true.
     */
    public static final ChannelOption<Boolean> RECEIVE_IN_PLACE =
            valueOf(VSocketChannelOption.class, "VSOCKET_RECEIVE_IN_PLACE");

    /**
     * Whether a {@link VSocketDatagramChannel} may carry datagrams over a UD queue pair: where an
     * RDMA device serves the channel's local address, it learns each peer's UD endpoint over UDP and
     * sends what fits the path MTU over UD to peers that run vsocket (everything else, and everything
     * until a peer is resolved, over UDP). Default from the system property
     * {@code io.vsocket.datagramUd}, else true. Set before bind or connect.
     */
    public static final ChannelOption<Boolean> DATAGRAM_UD = valueOf(VSocketChannelOption.class, "VSOCKET_DATAGRAM_UD");

    /**
     * Whether a {@link VSocketDatagramChannel} that has a UD endpoint sends unicast datagrams over UD
     * only: a datagram to a peer not yet resolved waits for the resolution (at most its timeout, 1 s)
     * instead of going over UDP, and one UD cannot carry (larger than the UD payload, to a group
     * address, to a peer that does not answer) fails its write saying why. A channel without an
     * endpoint (no RDMA device for its address, or not bound) still uses UDP. For tests that must
     * prove UD carried the traffic, and for applications that want RDMA or nothing. Default false.
     */
    public static final ChannelOption<Boolean> DATAGRAM_UD_REQUIRED =
            valueOf(VSocketChannelOption.class, "VSOCKET_DATAGRAM_UD_REQUIRED");

    /**
     * Whether a {@link VSocketDatagramChannel} carries datagrams to and from vsocket datagram
     * channels of the same user on this host (same network namespace) over shared memory: it listens
     * for such peers on an abstract Unix socket named after its UDP address, and a sender that finds
     * a recipient's asks it over UDP (as for UD) and sets up a pair of rings with it. Peers without
     * vsocket are never asked; multicast and broadcast always go over UDP; shm goes before UD where a
     * peer has both. Default from the system property {@code io.vsocket.datagramShm}, else true. Set
     * before bind or connect.
     */
    public static final ChannelOption<Boolean> DATAGRAM_SHM = valueOf(VSocketChannelOption.class, "VSOCKET_DATAGRAM_SHM");

    /**
     * Seconds a connection's TCP socket stays idle before keep-alive probes start ({@code TCP_KEEPIDLE};
     * with {@link ChannelOption#SO_KEEPALIVE}), as Netty's epoll channel takes it. On every link the TCP
     * connection is there: the data's on tcp, the control connection's on shm and rdma, whose loss
     * ends the connection or moves it off a failed rdma path.
     */
    public static final ChannelOption<Integer> TCP_KEEPIDLE = valueOf(VSocketChannelOption.class, "TCP_KEEPIDLE");

    /** Seconds between keep-alive probes ({@code TCP_KEEPINTVL}). */
    public static final ChannelOption<Integer> TCP_KEEPINTVL = valueOf(VSocketChannelOption.class, "TCP_KEEPINTVL");

    /** Keep-alive probes unanswered before the connection is dropped ({@code TCP_KEEPCNT}). */
    public static final ChannelOption<Integer> TCP_KEEPCNT = valueOf(VSocketChannelOption.class, "TCP_KEEPCNT");

    /**
     * Milliseconds sent data may stay unacknowledged before the TCP connection is dropped
     * ({@code TCP_USER_TIMEOUT}, RFC 5482; 0: the system's default).
     */
    public static final ChannelOption<Integer> TCP_USER_TIMEOUT = valueOf(VSocketChannelOption.class, "TCP_USER_TIMEOUT");

    /**
     * Whether the socket may share its port with other sockets that set it too ({@code SO_REUSEPORT}),
     * the kernel spreading connections (a server channel) or datagrams (a datagram channel, by each
     * sender's address) over them, as Netty's epoll channels take it ({@code EpollChannelOption.SO_REUSEPORT}
     * is taken too). Set before bind. A datagram channel that shares its port stays on UDP: a shm or UD
     * carrier would move a sender's datagrams away from the socket the kernel chose for them, where an
     * application such as a QUIC server keeps that sender's state.
     */
    public static final ChannelOption<Boolean> SO_REUSEPORT = valueOf(VSocketChannelOption.class, "SO_REUSEPORT");

    /**
     * {@code TCP_QUICKACK} on a stream channel's TCP socket: acknowledge at once rather than delayed (the
     * kernel may fall back to delayed acknowledgements later, as it does under epoll).
     * {@code EpollChannelOption.TCP_QUICKACK} is taken too, as are the epoll options below.
     */
    public static final ChannelOption<Boolean> TCP_QUICKACK = valueOf(VSocketChannelOption.class, "TCP_QUICKACK");

    /** {@code TCP_CORK} on a stream channel's TCP socket: partial segments held until uncorked (tcp only). */
    public static final ChannelOption<Boolean> TCP_CORK = valueOf(VSocketChannelOption.class, "TCP_CORK");

    /** {@code TCP_NOTSENT_LOWAT} on a stream channel's TCP socket: unsent bytes above which it is not writable (tcp only). */
    public static final ChannelOption<Long> TCP_NOTSENT_LOWAT = valueOf(VSocketChannelOption.class, "TCP_NOTSENT_LOWAT");

    /** {@code TCP_DEFER_ACCEPT} on a server channel's listener: seconds a connection may wait for its first byte before it is accepted. */
    public static final ChannelOption<Integer> TCP_DEFER_ACCEPT = valueOf(VSocketChannelOption.class, "TCP_DEFER_ACCEPT");

    /**
     * {@code IP_FREEBIND} on a server channel's listener: bind an address this host does not have (yet). The
     * option of that bare name, which {@code EpollChannelOption.IP_FREEBIND} is too.
     */
    public static final ChannelOption<Boolean> IP_FREEBIND = ChannelOption.valueOf("IP_FREEBIND");

    /**
     * {@code IP_TRANSPARENT} on a stream or server channel's socket (a transparent proxy; needs
     * {@code CAP_NET_ADMIN}). The option of that bare name, which {@code EpollChannelOption.IP_TRANSPARENT} is too.
     */
    public static final ChannelOption<Boolean> IP_TRANSPARENT = ChannelOption.valueOf("IP_TRANSPARENT");

    @SuppressWarnings({"unused", "deprecation"})
    private VSocketChannelOption() {
        super(null);
    }
}
