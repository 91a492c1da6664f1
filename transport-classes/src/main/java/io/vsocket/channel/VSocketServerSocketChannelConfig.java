package io.vsocket.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.MessageSizeEstimator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ServerSocketChannelConfig;
import io.netty.util.NetUtil;
import io.vsocket.ffm.libc.LibC;

import java.util.Map;

/** Options of a {@link VSocketServerSocketChannel}: those of a TCP listener, applied to its socket. */
public final class VSocketServerSocketChannelConfig extends DefaultChannelConfig implements ServerSocketChannelConfig {
    private final VSocketServerSocketChannel channel;
    private volatile int backlog = NetUtil.SOMAXCONN;

    VSocketServerSocketChannelConfig(VSocketServerSocketChannel channel) {
        super(channel);
        this.channel = channel;
        setReuseAddress(true);
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(getOptions(super.getOptions(), ChannelOption.SO_RCVBUF, ChannelOption.SO_REUSEADDR,
                ChannelOption.SO_BACKLOG, VSocketChannelOption.SO_REUSEPORT), PassedSocketOption.options(true));
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        option = OtherTransportOptions.own(option);
        if (option == ChannelOption.SO_RCVBUF) {
            return (T) Integer.valueOf(getReceiveBufferSize());
        }
        if (option == ChannelOption.SO_REUSEADDR) {
            return (T) Boolean.valueOf(isReuseAddress());
        }
        if (option == ChannelOption.SO_BACKLOG) {
            return (T) Integer.valueOf(getBacklog());
        }
        if (option == VSocketChannelOption.SO_REUSEPORT) {
            return (T) Boolean.valueOf(isReusePort());
        }
        PassedSocketOption passed = PassedSocketOption.of(option, true);
        if (passed != null) {
            return (T) passed.get(channel.socket);
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        option = OtherTransportOptions.own(option);
        validate(option, value);
        PassedSocketOption passed = PassedSocketOption.of(option, true);
        if (option == ChannelOption.SO_RCVBUF) {
            setReceiveBufferSize((Integer) value);
        } else if (option == ChannelOption.SO_REUSEADDR) {
            setReuseAddress((Boolean) value);
        } else if (option == ChannelOption.SO_BACKLOG) {
            setBacklog((Integer) value);
        } else if (option == VSocketChannelOption.SO_REUSEPORT) {
            setReusePort((Boolean) value);
        } else if (passed != null) {
            passed.set(channel.socket, value);
        } else {
            return super.setOption(option, value);
        }
        return true;
    }

    @Override
    public int getBacklog() {
        return backlog;
    }

    @Override
    public VSocketServerSocketChannelConfig setBacklog(int backlog) {
        if (backlog < 0) {
            throw new IllegalArgumentException("backlog: " + backlog);
        }
        this.backlog = backlog;
        return this;
    }

    @Override
    public boolean isReuseAddress() {
        return SocketOptions.get(channel.socket, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, "SO_REUSEADDR") != 0;
    }

    @Override
    public VSocketServerSocketChannelConfig setReuseAddress(boolean reuseAddress) {
        SocketOptions.set(channel.socket, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, reuseAddress ? 1 : 0, "SO_REUSEADDR");
        return this;
    }

    /** Whether the listener may share its port with others that set this too ({@link VSocketChannelOption#SO_REUSEPORT}). */
    public boolean isReusePort() {
        return SocketOptions.get(channel.socket, LibC.SOL_SOCKET, LibC.SO_REUSEPORT, "SO_REUSEPORT") != 0;
    }

    /** Lets the listener share its port with others that set this too, the kernel spreading connections over them. Before bind. */
    public VSocketServerSocketChannelConfig setReusePort(boolean reusePort) {
        SocketOptions.set(channel.socket, LibC.SOL_SOCKET, LibC.SO_REUSEPORT, reusePort ? 1 : 0, "SO_REUSEPORT");
        return this;
    }

    @Override
    public int getReceiveBufferSize() {
        return SocketOptions.get(channel.socket, LibC.SOL_SOCKET, LibC.SO_RCVBUF, "SO_RCVBUF");
    }

    @Override
    public VSocketServerSocketChannelConfig setReceiveBufferSize(int receiveBufferSize) {
        SocketOptions.set(channel.socket, LibC.SOL_SOCKET, LibC.SO_RCVBUF, receiveBufferSize, "SO_RCVBUF");
        return this;
    }

    @Override
    protected void autoReadCleared() {
        ((AbstractVSocketChannel) channel).clearReadPending();
    }

    /** Ignored, as by Netty's native transports: the kernel has no use for it. */
    @Override
    public VSocketServerSocketChannelConfig setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setConnectTimeoutMillis(int connectTimeoutMillis) {
        super.setConnectTimeoutMillis(connectTimeoutMillis);
        return this;
    }

    @Override
    @Deprecated
    public VSocketServerSocketChannelConfig setMaxMessagesPerRead(int maxMessagesPerRead) {
        super.setMaxMessagesPerRead(maxMessagesPerRead);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setWriteSpinCount(int writeSpinCount) {
        super.setWriteSpinCount(writeSpinCount);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setAllocator(ByteBufAllocator allocator) {
        super.setAllocator(allocator);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setRecvByteBufAllocator(RecvByteBufAllocator allocator) {
        super.setRecvByteBufAllocator(allocator);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setAutoRead(boolean autoRead) {
        super.setAutoRead(autoRead);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setWriteBufferHighWaterMark(int writeBufferHighWaterMark) {
        super.setWriteBufferHighWaterMark(writeBufferHighWaterMark);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setWriteBufferLowWaterMark(int writeBufferLowWaterMark) {
        super.setWriteBufferLowWaterMark(writeBufferLowWaterMark);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setWriteBufferWaterMark(WriteBufferWaterMark writeBufferWaterMark) {
        super.setWriteBufferWaterMark(writeBufferWaterMark);
        return this;
    }

    @Override
    public VSocketServerSocketChannelConfig setMessageSizeEstimator(MessageSizeEstimator estimator) {
        super.setMessageSizeEstimator(estimator);
        return this;
    }
}
