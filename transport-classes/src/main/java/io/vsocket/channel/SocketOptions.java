package io.vsocket.channel;

import io.netty.channel.ChannelException;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;

import java.nio.channels.ClosedChannelException;

/**
 * The integer socket options the channel configs read and write, failing as Netty's configs do
 * (a {@link ChannelException}), and the options both kinds of socket share.
 */
final class SocketOptions {
    private SocketOptions() {
    }

    static int get(NativeSocket socket, int level, int name, String what) {
        try {
            return socket.getIntOption(level, name, what);
        } catch (NativeIoException e) {
            throw failure(socket, e);
        }
    }

    static void set(NativeSocket socket, int level, int name, int value, String what) {
        try {
            socket.setIntOption(level, name, value, what);
        } catch (NativeIoException e) {
            throw failure(socket, e);
        }
    }

    /**
     * What an option call that failed throws: on a closed channel, as epoll's configs do, a {@link
     * ChannelException} caused by a {@link ClosedChannelException} (not the system call's "Bad file
     * descriptor", which says less).
     */
    static ChannelException failure(NativeSocket socket, NativeIoException e) {
        if (!socket.isOpen()) {
            ClosedChannelException closed = new ClosedChannelException();
            closed.initCause(e);
            return new ChannelException(closed);
        }
        return new ChannelException(e);
    }

    static int trafficClass(NativeSocket socket) {
        return get(socket, LibC.IPPROTO_IPV6, LibC.IPV6_TCLASS, "IPV6_TCLASS");
    }

    /**
     * Sets both forms on the dual-stack socket, as Netty's epoll transport does: IPv6's traffic
     * class, and IPv4's TOS, which is what packets to v4-mapped peers carry.
     */
    static void trafficClass(NativeSocket socket, int trafficClass) {
        set(socket, LibC.IPPROTO_IPV6, LibC.IPV6_TCLASS, trafficClass, "IPV6_TCLASS");
        set(socket, LibC.IPPROTO_IP, LibC.IP_TOS, trafficClass, "IP_TOS");
    }
}
