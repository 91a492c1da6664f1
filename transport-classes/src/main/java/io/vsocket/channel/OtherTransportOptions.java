package io.vsocket.channel;

import io.netty.channel.ChannelOption;
import io.netty.channel.socket.nio.NioChannelOption;

import java.util.Map;

/**
 * The options Netty's other transports name by constants of their own, taken by vsocket's channels as
 * vsocket's options of the same meaning: an application moved from epoll or io_uring (or NIO with the
 * JDK's socket options) keeps its {@code option(EpollChannelOption.SO_REUSEPORT, true)} and its
 * keep-alive timing, instead of a warning of an unknown option on every channel and none applied.
 * Matched by the constant's name, so vsocket needs none of those transports' classes; the values are of
 * the same type. Options vsocket has no counterpart for stay unknown (and are warned of by Netty).
 */
final class OtherTransportOptions {
    private static final String EPOLL = "io.netty.channel.epoll.EpollChannelOption#";
    private static final String IO_URING = "io.netty.channel.uring.IoUringChannelOption#";

    /** By the pool names of epoll's, io_uring's and their Unix options' constants. */
    private static final Map<String, ChannelOption<?>> NAMED = Map.ofEntries(
            // UnixChannelOption's constant, which epoll's and io_uring's option classes inherit.
            Map.entry("io.netty.channel.unix.UnixChannelOption#SO_REUSEPORT", VSocketChannelOption.SO_REUSEPORT),
            Map.entry(EPOLL + "TCP_KEEPIDLE", VSocketChannelOption.TCP_KEEPIDLE),
            Map.entry(EPOLL + "TCP_KEEPINTVL", VSocketChannelOption.TCP_KEEPINTVL),
            Map.entry(EPOLL + "TCP_KEEPCNT", VSocketChannelOption.TCP_KEEPCNT),
            Map.entry(EPOLL + "TCP_USER_TIMEOUT", VSocketChannelOption.TCP_USER_TIMEOUT),
            Map.entry(IO_URING + "TCP_KEEPIDLE", VSocketChannelOption.TCP_KEEPIDLE),
            Map.entry(IO_URING + "TCP_KEEPINTVL", VSocketChannelOption.TCP_KEEPINTVL),
            Map.entry(IO_URING + "TCP_KEEPCNT", VSocketChannelOption.TCP_KEEPCNT),
            Map.entry(IO_URING + "TCP_USER_TIMEOUT", VSocketChannelOption.TCP_USER_TIMEOUT),
            Map.entry(EPOLL + "TCP_QUICKACK", VSocketChannelOption.TCP_QUICKACK),
            Map.entry(EPOLL + "TCP_CORK", VSocketChannelOption.TCP_CORK),
            Map.entry(EPOLL + "TCP_NOTSENT_LOWAT", VSocketChannelOption.TCP_NOTSENT_LOWAT),
            Map.entry(EPOLL + "TCP_DEFER_ACCEPT", VSocketChannelOption.TCP_DEFER_ACCEPT),
            Map.entry(IO_URING + "TCP_QUICKACK", VSocketChannelOption.TCP_QUICKACK),
            Map.entry(IO_URING + "TCP_CORK", VSocketChannelOption.TCP_CORK),
            Map.entry(IO_URING + "TCP_NOTSENT_LOWAT", VSocketChannelOption.TCP_NOTSENT_LOWAT),
            Map.entry(IO_URING + "TCP_DEFER_ACCEPT", VSocketChannelOption.TCP_DEFER_ACCEPT));

    /**
     * {@code NioChannelOption.of(...)}'s, named as the JDK's socket options are (a bare name, so only a
     * {@link NioChannelOption} is looked up here: another library's option of that name may mean anything).
     */
    private static final Map<String, ChannelOption<?>> NIO = Map.ofEntries(
            Map.entry("SO_REUSEPORT", VSocketChannelOption.SO_REUSEPORT),
            Map.entry("TCP_KEEPIDLE", VSocketChannelOption.TCP_KEEPIDLE),
            Map.entry("TCP_KEEPINTERVAL", VSocketChannelOption.TCP_KEEPINTVL),
            Map.entry("TCP_KEEPCOUNT", VSocketChannelOption.TCP_KEEPCNT),
            Map.entry("TCP_NODELAY", ChannelOption.TCP_NODELAY),
            Map.entry("SO_KEEPALIVE", ChannelOption.SO_KEEPALIVE),
            Map.entry("SO_RCVBUF", ChannelOption.SO_RCVBUF),
            Map.entry("SO_SNDBUF", ChannelOption.SO_SNDBUF),
            Map.entry("SO_REUSEADDR", ChannelOption.SO_REUSEADDR),
            Map.entry("SO_LINGER", ChannelOption.SO_LINGER),
            Map.entry("SO_BROADCAST", ChannelOption.SO_BROADCAST),
            Map.entry("IP_TOS", ChannelOption.IP_TOS));

    private OtherTransportOptions() {
    }

    /** vsocket's own option for {@code option}, or {@code option} itself. */
    @SuppressWarnings("unchecked")
    static <T> ChannelOption<T> own(ChannelOption<T> option) {
        ChannelOption<?> own = (option instanceof NioChannelOption ? NIO : NAMED).get(option.name());
        return own != null ? (ChannelOption<T>) own : option;
    }
}
