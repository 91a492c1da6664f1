package io.vsocket.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.MessageSizeEstimator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannelConfig;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.VSocketLink;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;

import java.util.List;
import java.util.Map;

import static io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE;
import static io.netty.channel.ChannelOption.IP_TOS;
import static io.netty.channel.ChannelOption.SO_KEEPALIVE;
import static io.netty.channel.ChannelOption.SO_LINGER;
import static io.netty.channel.ChannelOption.SO_RCVBUF;
import static io.netty.channel.ChannelOption.SO_REUSEADDR;
import static io.netty.channel.ChannelOption.SO_SNDBUF;
import static io.netty.channel.ChannelOption.TCP_NODELAY;

/**
 * Options of a {@link VSocketSocketChannel}. The socket options apply to the TCP connection every
 * vsocket stream starts from (and which carries the data on the tcp link); {@code TCP_NODELAY} is on
 * by default, as in Netty's transports.
 */
public final class VSocketSocketChannelConfig extends DefaultChannelConfig implements SocketChannelConfig, LinkSettings {
    private final NativeSocket socket;
    private volatile boolean allowHalfClosure;
    private volatile boolean recvAllocatorSet;
    private volatile List<VSocketLink> links = VSocketLinks.defaults();
    /** Set by the application, or 0: each link's default. */
    private volatile int ringSize;
    private volatile int helloTimeoutMillis = VSocketLinks.DEFAULT_HELLO_TIMEOUT_MILLIS;
    private volatile boolean receiveInPlace = VSocketLinks.DEFAULT_RECEIVE_IN_PLACE;

    VSocketSocketChannelConfig(VSocketSocketChannel channel, NativeSocket socket) {
        super(channel);
        this.socket = socket;
        recvAllocatorSet = false; // (Netty's constructor set its default through the setter)
        setAllocator(VSocketLinks.defaultAllocator());
        setTcpNoDelay(true);
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(getOptions(super.getOptions(), SO_RCVBUF, SO_SNDBUF, TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR,
                SO_LINGER, IP_TOS, ALLOW_HALF_CLOSURE, VSocketChannelOption.LINKS, VSocketChannelOption.RING_SIZE,
                VSocketChannelOption.HELLO_TIMEOUT_MILLIS, VSocketChannelOption.RECEIVE_IN_PLACE,
                VSocketChannelOption.TCP_KEEPIDLE, VSocketChannelOption.TCP_KEEPINTVL, VSocketChannelOption.TCP_KEEPCNT,
                VSocketChannelOption.TCP_USER_TIMEOUT), PassedSocketOption.options(false));
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        option = OtherTransportOptions.own(option);
        if (option == SO_RCVBUF) {
            return (T) Integer.valueOf(getReceiveBufferSize());
        }
        if (option == SO_SNDBUF) {
            return (T) Integer.valueOf(getSendBufferSize());
        }
        if (option == TCP_NODELAY) {
            return (T) Boolean.valueOf(isTcpNoDelay());
        }
        if (option == SO_KEEPALIVE) {
            return (T) Boolean.valueOf(isKeepAlive());
        }
        if (option == SO_REUSEADDR) {
            return (T) Boolean.valueOf(isReuseAddress());
        }
        if (option == SO_LINGER) {
            return (T) Integer.valueOf(getSoLinger());
        }
        if (option == IP_TOS) {
            return (T) Integer.valueOf(getTrafficClass());
        }
        if (option == ALLOW_HALF_CLOSURE) {
            return (T) Boolean.valueOf(isAllowHalfClosure());
        }
        if (option == VSocketChannelOption.LINKS) {
            return (T) getLinks();
        }
        if (option == VSocketChannelOption.RING_SIZE) {
            return (T) Integer.valueOf(getRingSize());
        }
        if (option == VSocketChannelOption.HELLO_TIMEOUT_MILLIS) {
            return (T) Integer.valueOf(getHelloTimeoutMillis());
        }
        if (option == VSocketChannelOption.RECEIVE_IN_PLACE) {
            return (T) Boolean.valueOf(isReceiveInPlace());
        }
        int tcp = tcpOption(option);
        if (tcp >= 0) {
            return (T) Integer.valueOf(get(LibC.IPPROTO_TCP, tcp, option.name()));
        }
        PassedSocketOption passed = PassedSocketOption.of(option, false);
        if (passed != null) {
            return (T) passed.get(socket);
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        option = OtherTransportOptions.own(option);
        validate(option, value);
        if (option == SO_RCVBUF) {
            setReceiveBufferSize((Integer) value);
        } else if (option == SO_SNDBUF) {
            setSendBufferSize((Integer) value);
        } else if (option == TCP_NODELAY) {
            setTcpNoDelay((Boolean) value);
        } else if (option == SO_KEEPALIVE) {
            setKeepAlive((Boolean) value);
        } else if (option == SO_REUSEADDR) {
            setReuseAddress((Boolean) value);
        } else if (option == SO_LINGER) {
            setSoLinger((Integer) value);
        } else if (option == IP_TOS) {
            setTrafficClass((Integer) value);
        } else if (option == ALLOW_HALF_CLOSURE) {
            setAllowHalfClosure((Boolean) value);
        } else if (option == VSocketChannelOption.LINKS) {
            @SuppressWarnings("unchecked")
            List<VSocketLink> list = (List<VSocketLink>) value;
            setLinks(list);
        } else if (option == VSocketChannelOption.RING_SIZE) {
            setRingSize((Integer) value);
        } else if (option == VSocketChannelOption.HELLO_TIMEOUT_MILLIS) {
            setHelloTimeoutMillis((Integer) value);
        } else if (option == VSocketChannelOption.RECEIVE_IN_PLACE) {
            setReceiveInPlace((Boolean) value);
        } else {
            int tcp = tcpOption(option);
            PassedSocketOption passed = PassedSocketOption.of(option, false);
            if (tcp >= 0) {
                set(LibC.IPPROTO_TCP, tcp, (Integer) value, option.name());
            } else if (passed != null) {
                passed.set(socket, value);
            } else {
                return super.setOption(option, value);
            }
        }
        return true;
    }

    /** The {@code IPPROTO_TCP} option number behind {@code option}, or -1 if it is none of these. */
    private static int tcpOption(ChannelOption<?> option) {
        if (option == VSocketChannelOption.TCP_KEEPIDLE) {
            return LibC.TCP_KEEPIDLE;
        }
        if (option == VSocketChannelOption.TCP_KEEPINTVL) {
            return LibC.TCP_KEEPINTVL;
        }
        if (option == VSocketChannelOption.TCP_KEEPCNT) {
            return LibC.TCP_KEEPCNT;
        }
        if (option == VSocketChannelOption.TCP_USER_TIMEOUT) {
            return LibC.TCP_USER_TIMEOUT;
        }
        return -1;
    }

    private int get(int level, int name, String what) {
        return SocketOptions.get(socket, level, name, what);
    }

    private void set(int level, int name, int value, String what) {
        SocketOptions.set(socket, level, name, value, what);
    }

    @Override
    public int getReceiveBufferSize() {
        return get(LibC.SOL_SOCKET, LibC.SO_RCVBUF, "SO_RCVBUF");
    }

    @Override
    public VSocketSocketChannelConfig setReceiveBufferSize(int size) {
        set(LibC.SOL_SOCKET, LibC.SO_RCVBUF, size, "SO_RCVBUF");
        return this;
    }

    @Override
    public int getSendBufferSize() {
        return get(LibC.SOL_SOCKET, LibC.SO_SNDBUF, "SO_SNDBUF");
    }

    @Override
    public VSocketSocketChannelConfig setSendBufferSize(int size) {
        set(LibC.SOL_SOCKET, LibC.SO_SNDBUF, size, "SO_SNDBUF");
        return this;
    }

    @Override
    public boolean isTcpNoDelay() {
        return get(LibC.IPPROTO_TCP, LibC.TCP_NODELAY, "TCP_NODELAY") != 0;
    }

    @Override
    public VSocketSocketChannelConfig setTcpNoDelay(boolean tcpNoDelay) {
        set(LibC.IPPROTO_TCP, LibC.TCP_NODELAY, tcpNoDelay ? 1 : 0, "TCP_NODELAY");
        return this;
    }

    @Override
    public boolean isKeepAlive() {
        return get(LibC.SOL_SOCKET, LibC.SO_KEEPALIVE, "SO_KEEPALIVE") != 0;
    }

    @Override
    public VSocketSocketChannelConfig setKeepAlive(boolean keepAlive) {
        set(LibC.SOL_SOCKET, LibC.SO_KEEPALIVE, keepAlive ? 1 : 0, "SO_KEEPALIVE");
        return this;
    }

    @Override
    public boolean isReuseAddress() {
        return get(LibC.SOL_SOCKET, LibC.SO_REUSEADDR, "SO_REUSEADDR") != 0;
    }

    @Override
    public VSocketSocketChannelConfig setReuseAddress(boolean reuseAddress) {
        set(LibC.SOL_SOCKET, LibC.SO_REUSEADDR, reuseAddress ? 1 : 0, "SO_REUSEADDR");
        return this;
    }

    @Override
    public int getSoLinger() {
        try {
            return socket.getLinger();
        } catch (NativeIoException e) {
            throw SocketOptions.failure(socket, e);
        }
    }

    @Override
    public VSocketSocketChannelConfig setSoLinger(int soLinger) {
        try {
            socket.setLinger(soLinger);
        } catch (NativeIoException e) {
            throw SocketOptions.failure(socket, e);
        }
        return this;
    }

    @Override
    public int getTrafficClass() {
        return SocketOptions.trafficClass(socket);
    }

    @Override
    public VSocketSocketChannelConfig setTrafficClass(int trafficClass) {
        SocketOptions.trafficClass(socket, trafficClass);
        return this;
    }

    @Override
    public boolean isAllowHalfClosure() {
        return allowHalfClosure;
    }

    @Override
    public VSocketSocketChannelConfig setAllowHalfClosure(boolean allowHalfClosure) {
        this.allowHalfClosure = allowHalfClosure;
        return this;
    }

    /** The links this connection may use, best first ({@link VSocketChannelOption#LINKS}). */
    public List<VSocketLink> getLinks() {
        return links;
    }

    public VSocketSocketChannelConfig setLinks(List<VSocketLink> links) {
        this.links = VSocketLinks.validate(links);
        return this;
    }

    /**
     * Bytes in this side's receive ring ({@link VSocketChannelOption#RING_SIZE}) as set, or 0 where
     * each link takes its default ({@link #getRingSize(VSocketLink)}).
     */
    public int getRingSize() {
        return ringSize;
    }

    @Override
    public int getRingSize(VSocketLink link) {
        int set = ringSize;
        return set != 0 ? set : VSocketLinks.defaultRingSize(link);
    }

    /** A ring size for every link, or 0 for each link's default. */
    public VSocketSocketChannelConfig setRingSize(int ringSize) {
        this.ringSize = ringSize == 0 ? 0 : LinkSettings.validateRingSize(ringSize);
        return this;
    }

    /** Whether the shm link lends its ring's bytes to the pipeline ({@link VSocketChannelOption#RECEIVE_IN_PLACE}). */
    public boolean isReceiveInPlace() {
        return receiveInPlace;
    }

    public VSocketSocketChannelConfig setReceiveInPlace(boolean receiveInPlace) {
        this.receiveInPlace = receiveInPlace;
        return this;
    }

    /** How long the hello may take ({@link VSocketChannelOption#HELLO_TIMEOUT_MILLIS}). */
    public int getHelloTimeoutMillis() {
        return helloTimeoutMillis;
    }

    public VSocketSocketChannelConfig setHelloTimeoutMillis(int millis) {
        if (millis <= 0) {
            throw new IllegalArgumentException("hello timeout must be positive: " + millis);
        }
        this.helloTimeoutMillis = millis;
        return this;
    }

    @Override
    protected void autoReadCleared() {
        ((AbstractVSocketChannel) channel).clearReadPending();
    }

    /** Ignored, as by Netty's native transports. */
    @Override
    public VSocketSocketChannelConfig setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setConnectTimeoutMillis(int connectTimeoutMillis) {
        super.setConnectTimeoutMillis(connectTimeoutMillis);
        return this;
    }

    @Override
    @Deprecated
    public VSocketSocketChannelConfig setMaxMessagesPerRead(int maxMessagesPerRead) {
        super.setMaxMessagesPerRead(maxMessagesPerRead);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setWriteSpinCount(int writeSpinCount) {
        super.setWriteSpinCount(writeSpinCount);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setAllocator(ByteBufAllocator allocator) {
        super.setAllocator(allocator);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setRecvByteBufAllocator(RecvByteBufAllocator allocator) {
        super.setRecvByteBufAllocator(allocator);
        recvAllocatorSet = true;
        return this;
    }

    /**
     * Whether the application set {@code RCVBUF_ALLOCATOR}: then its guess bounds the shm link's loans
     * as it bounds every read on epoll. Netty's default adaptive allocator does not: its guess falls
     * after a few small reads, and loans cut to it cost the ring's reading throughput (about a sixth in
     * same-minute pairs) for a bound nobody asked for.
     */
    boolean isRecvAllocatorSet() {
        return recvAllocatorSet;
    }

    @Override
    public VSocketSocketChannelConfig setAutoRead(boolean autoRead) {
        super.setAutoRead(autoRead);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setAutoClose(boolean autoClose) {
        super.setAutoClose(autoClose);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setWriteBufferHighWaterMark(int writeBufferHighWaterMark) {
        super.setWriteBufferHighWaterMark(writeBufferHighWaterMark);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setWriteBufferLowWaterMark(int writeBufferLowWaterMark) {
        super.setWriteBufferLowWaterMark(writeBufferLowWaterMark);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setWriteBufferWaterMark(WriteBufferWaterMark writeBufferWaterMark) {
        super.setWriteBufferWaterMark(writeBufferWaterMark);
        return this;
    }

    @Override
    public VSocketSocketChannelConfig setMessageSizeEstimator(MessageSizeEstimator estimator) {
        super.setMessageSizeEstimator(estimator);
        return this;
    }
}
