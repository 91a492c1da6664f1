package io.vsocket.channel;

import io.netty.channel.ChannelOption;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.unix.NativeSocket;

/**
 * Options a channel passes straight to its TCP socket (a server channel: its listener), as Netty's epoll
 * channels do: they shape the TCP connection — when it acknowledges, how it fills segments, when a
 * connection is accepted, what a listener may bind — and so what goes over tcp (the fall-back link, and
 * a connection's first bytes before it moves onto shm); the shm and rdma links beside it carry on as
 * before. Booleans go to the kernel as 1 or 0. {@code TCP_FASTOPEN} is Netty's own {@link ChannelOption#TCP_FASTOPEN}
 * (epoll's constant of that name is the same option): the listener's queue of Fast Open requests. Netty's
 * {@code TCP_FASTOPEN_CONNECT} stays unknown: a SYN that carried data would carry the hello's urgent byte.
 */
enum PassedSocketOption {
    TCP_QUICKACK(VSocketChannelOption.TCP_QUICKACK, LibC.IPPROTO_TCP, LibC.TCP_QUICKACK, true, false),
    TCP_CORK(VSocketChannelOption.TCP_CORK, LibC.IPPROTO_TCP, LibC.TCP_CORK, true, false),
    TCP_NOTSENT_LOWAT(VSocketChannelOption.TCP_NOTSENT_LOWAT, LibC.IPPROTO_TCP, LibC.TCP_NOTSENT_LOWAT, true, false),
    TCP_DEFER_ACCEPT(VSocketChannelOption.TCP_DEFER_ACCEPT, LibC.IPPROTO_TCP, LibC.TCP_DEFER_ACCEPT, false, true),
    TCP_FASTOPEN(ChannelOption.TCP_FASTOPEN, LibC.IPPROTO_TCP, LibC.TCP_FASTOPEN, false, true),
    IP_FREEBIND(VSocketChannelOption.IP_FREEBIND, LibC.IPPROTO_IP, LibC.IP_FREEBIND, false, true),
    IP_TRANSPARENT(VSocketChannelOption.IP_TRANSPARENT, LibC.IPPROTO_IP, LibC.IP_TRANSPARENT, true, true);

    private static final PassedSocketOption[] ALL = values();

    final ChannelOption<?> option;
    private final int level;
    private final int name;
    private final boolean stream;
    private final boolean server;

    PassedSocketOption(ChannelOption<?> option, int level, int name, boolean stream, boolean server) {
        this.option = option;
        this.level = level;
        this.name = name;
        this.stream = stream;
        this.server = server;
    }

    /** The passed option behind {@code option} for a stream channel ({@code server} false) or a server channel; null if none. */
    static PassedSocketOption of(ChannelOption<?> option, boolean server) {
        for (PassedSocketOption o : ALL) {
            if (o.option == option && (server ? o.server : o.stream)) {
                return o;
            }
        }
        return null;
    }

    /** The options a stream channel ({@code server} false) or a server channel passes. */
    static ChannelOption<?>[] options(boolean server) {
        return java.util.Arrays.stream(ALL).filter(o -> server ? o.server : o.stream).map(o -> o.option)
                .toArray(ChannelOption<?>[]::new);
    }

    /** The socket's value, of the option's type. */
    Object get(NativeSocket socket) {
        int value = SocketOptions.get(socket, level, name, name());
        if (this == TCP_NOTSENT_LOWAT) {
            return Integer.toUnsignedLong(value);
        }
        if (this == TCP_DEFER_ACCEPT || this == TCP_FASTOPEN) {
            return value;
        }
        return value != 0;
    }

    /** Sets it on the socket; {@code value} of the option's type (checked by the config's {@code validate}). */
    void set(NativeSocket socket, Object value) {
        int v;
        if (value instanceof Boolean b) {
            v = b ? 1 : 0;
        } else if (value instanceof Long l) {
            if (l < 0 || l > 0xFFFF_FFFFL) {
                throw new IllegalArgumentException(name() + " out of range: " + l);
            }
            v = (int) (long) l;
        } else {
            v = (Integer) value;
        }
        SocketOptions.set(socket, level, name, v, name());
    }
}
