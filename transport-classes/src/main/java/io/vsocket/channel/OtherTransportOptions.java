package io.vsocket.channel;

import io.netty.channel.ChannelOption;

import java.util.Map;

/**
 * The options Netty's other transports name by constants of their own, taken by vsocket's channels as
 * vsocket's options of the same meaning: an application moved from epoll or io_uring (or NIO with the
 * JDK's extended options) keeps its {@code option(EpollChannelOption.SO_REUSEPORT, true)} and its
 * keep-alive timing, instead of a warning of an unknown option on every channel and none applied.
 * Matched by the constant's name, so vsocket needs none of those transports' classes; the values are of
 * the same type. Options vsocket has no counterpart for stay unknown (and are warned of by Netty).
 */
final class OtherTransportOptions {
    private static final String EPOLL = "io.netty.channel.epoll.EpollChannelOption#";
    private static final String IO_URING = "io.netty.channel.uring.IoUringChannelOption#";

    private static final Map<String, ChannelOption<?>> OWN = Map.ofEntries(
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
            // NioChannelOption.of(...) names its options as the JDK's socket options are named.
            Map.entry("SO_REUSEPORT", VSocketChannelOption.SO_REUSEPORT),
            Map.entry("TCP_KEEPIDLE", VSocketChannelOption.TCP_KEEPIDLE),
            Map.entry("TCP_KEEPINTERVAL", VSocketChannelOption.TCP_KEEPINTVL),
            Map.entry("TCP_KEEPCOUNT", VSocketChannelOption.TCP_KEEPCNT));

    private OtherTransportOptions() {
    }

    /** vsocket's own option for {@code option}, or {@code option} itself. */
    @SuppressWarnings("unchecked")
    static <T> ChannelOption<T> own(ChannelOption<T> option) {
        ChannelOption<?> own = OWN.get(option.name());
        return own != null ? (ChannelOption<T>) own : option;
    }
}
