package io.vsocket.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.MessageSizeEstimator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.DatagramChannelConfig;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Enumeration;
import java.util.Map;

import static io.netty.channel.ChannelOption.DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION;
import static io.netty.channel.ChannelOption.IP_MULTICAST_ADDR;
import static io.netty.channel.ChannelOption.IP_MULTICAST_IF;
import static io.netty.channel.ChannelOption.IP_MULTICAST_LOOP_DISABLED;
import static io.netty.channel.ChannelOption.IP_MULTICAST_TTL;
import static io.netty.channel.ChannelOption.IP_TOS;
import static io.netty.channel.ChannelOption.SO_BROADCAST;
import static io.netty.channel.ChannelOption.SO_RCVBUF;
import static io.netty.channel.ChannelOption.SO_REUSEADDR;
import static io.netty.channel.ChannelOption.SO_SNDBUF;

/**
 * Options of a {@link VSocketDatagramChannel}, as Netty's datagram channels have them: the socket
 * options apply to the channel's UDP socket (dual-stack, so the IPv4 and the IPv6 form of an option
 * are both set where they differ); a datagram is read into a buffer of 2,048 bytes by default
 * ({@link FixedRecvByteBufAllocator}, as Netty's own datagram channels), a longer one cut to it.
 */
public final class VSocketDatagramChannelConfig extends DefaultChannelConfig implements DatagramChannelConfig {
    private final NativeSocket socket;
    private volatile boolean activeOnRegistration;
    private volatile NetworkInterface multicastInterface;
    private volatile boolean ud = Boolean.parseBoolean(System.getProperty("io.vsocket.datagramUd", "true"));
    private volatile boolean udRequired;
    private volatile boolean shm = Boolean.parseBoolean(System.getProperty("io.vsocket.datagramShm", "true"));

    VSocketDatagramChannelConfig(VSocketDatagramChannel channel, NativeSocket socket) {
        super(channel, new FixedRecvByteBufAllocator(2048));
        this.socket = socket;
        setAllocator(VSocketLinks.defaultAllocator());
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(super.getOptions(), SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_REUSEADDR, VSocketChannelOption.SO_REUSEPORT,
                IP_MULTICAST_LOOP_DISABLED, IP_MULTICAST_ADDR, IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_TOS,
                DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION, VSocketChannelOption.DATAGRAM_UD,
                VSocketChannelOption.DATAGRAM_UD_REQUIRED, VSocketChannelOption.DATAGRAM_SHM);
    }

    @SuppressWarnings({"unchecked", "deprecation"})
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        option = OtherTransportOptions.own(option);
        if (option == SO_BROADCAST) {
            return (T) Boolean.valueOf(isBroadcast());
        }
        if (option == SO_RCVBUF) {
            return (T) Integer.valueOf(getReceiveBufferSize());
        }
        if (option == SO_SNDBUF) {
            return (T) Integer.valueOf(getSendBufferSize());
        }
        if (option == SO_REUSEADDR) {
            return (T) Boolean.valueOf(isReuseAddress());
        }
        if (option == VSocketChannelOption.SO_REUSEPORT) {
            return (T) Boolean.valueOf(isReusePort());
        }
        if (option == IP_MULTICAST_LOOP_DISABLED) {
            return (T) Boolean.valueOf(isLoopbackModeDisabled());
        }
        if (option == IP_MULTICAST_ADDR) {
            return (T) getInterface();
        }
        if (option == IP_MULTICAST_IF) {
            return (T) getNetworkInterface();
        }
        if (option == IP_MULTICAST_TTL) {
            return (T) Integer.valueOf(getTimeToLive());
        }
        if (option == IP_TOS) {
            return (T) Integer.valueOf(getTrafficClass());
        }
        if (option == DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION) {
            return (T) Boolean.valueOf(activeOnRegistration);
        }
        if (option == VSocketChannelOption.DATAGRAM_UD) {
            return (T) Boolean.valueOf(isUd());
        }
        if (option == VSocketChannelOption.DATAGRAM_UD_REQUIRED) {
            return (T) Boolean.valueOf(isUdRequired());
        }
        if (option == VSocketChannelOption.DATAGRAM_SHM) {
            return (T) Boolean.valueOf(isShm());
        }
        return super.getOption(option);
    }

    @SuppressWarnings("deprecation")
    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        option = OtherTransportOptions.own(option);
        validate(option, value);
        if (option == SO_BROADCAST) {
            setBroadcast((Boolean) value);
        } else if (option == SO_RCVBUF) {
            setReceiveBufferSize((Integer) value);
        } else if (option == SO_SNDBUF) {
            setSendBufferSize((Integer) value);
        } else if (option == SO_REUSEADDR) {
            setReuseAddress((Boolean) value);
        } else if (option == VSocketChannelOption.SO_REUSEPORT) {
            setReusePort((Boolean) value);
        } else if (option == IP_MULTICAST_LOOP_DISABLED) {
            setLoopbackModeDisabled((Boolean) value);
        } else if (option == IP_MULTICAST_ADDR) {
            setInterface((InetAddress) value);
        } else if (option == IP_MULTICAST_IF) {
            setNetworkInterface((NetworkInterface) value);
        } else if (option == IP_MULTICAST_TTL) {
            setTimeToLive((Integer) value);
        } else if (option == IP_TOS) {
            setTrafficClass((Integer) value);
        } else if (option == DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION) {
            setActiveOnRegistration((Boolean) value);
        } else if (option == VSocketChannelOption.DATAGRAM_UD) {
            setUd((Boolean) value);
        } else if (option == VSocketChannelOption.DATAGRAM_UD_REQUIRED) {
            setUdRequired((Boolean) value);
        } else if (option == VSocketChannelOption.DATAGRAM_SHM) {
            setShm((Boolean) value);
        } else {
            return super.setOption(option, value);
        }
        return true;
    }

    @Override
    protected void autoReadCleared() {
        ((AbstractVSocketChannel) channel).clearReadPending();
    }

    /** Whether the channel counts as active once registered, before it is bound or connected. */
    boolean isActiveOnRegistration() {
        return activeOnRegistration;
    }

    private void setActiveOnRegistration(boolean activeOnRegistration) {
        if (channel.isRegistered()) {
            throw new IllegalStateException("DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION must be set before registration");
        }
        this.activeOnRegistration = activeOnRegistration;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_UD}. */
    public boolean isUd() {
        return ud;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_UD}; takes effect at the next bind or connect. */
    public VSocketDatagramChannelConfig setUd(boolean ud) {
        this.ud = ud;
        return this;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_UD_REQUIRED}. */
    public boolean isUdRequired() {
        return udRequired;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_UD_REQUIRED}. */
    public VSocketDatagramChannelConfig setUdRequired(boolean udRequired) {
        this.udRequired = udRequired;
        return this;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_SHM}. */
    public boolean isShm() {
        return shm;
    }

    /** See {@link VSocketChannelOption#DATAGRAM_SHM}; takes effect at the next bind or connect. */
    public VSocketDatagramChannelConfig setShm(boolean shm) {
        this.shm = shm;
        return this;
    }

    private int get(int level, int name, String what) {
        return SocketOptions.get(socket, level, name, what);
    }

    private void set(int level, int name, int value, String what) {
        SocketOptions.set(socket, level, name, value, what);
    }

    @Override
    public int getSendBufferSize() {
        return get(LibC.SOL_SOCKET, LibC.SO_SNDBUF, "SO_SNDBUF");
    }

    @Override
    public VSocketDatagramChannelConfig setSendBufferSize(int sendBufferSize) {
        set(LibC.SOL_SOCKET, LibC.SO_SNDBUF, sendBufferSize, "SO_SNDBUF");
        return this;
    }

    @Override
    public int getReceiveBufferSize() {
        return get(LibC.SOL_SOCKET, LibC.SO_RCVBUF, "SO_RCVBUF");
    }

    @Override
    public VSocketDatagramChannelConfig setReceiveBufferSize(int receiveBufferSize) {
        set(LibC.SOL_SOCKET, LibC.SO_RCVBUF, receiveBufferSize, "SO_RCVBUF");
        return this;
    }

    @Override
    public int getTrafficClass() {
        return SocketOptions.trafficClass(socket);
    }

    /** Sets both forms: IPv6's traffic class, and IPv4's TOS for datagrams to v4-mapped peers. */
    @Override
    public VSocketDatagramChannelConfig setTrafficClass(int trafficClass) {
        SocketOptions.trafficClass(socket, trafficClass);
        return this;
    }

    @Override
    public boolean isReuseAddress() {
        return get(LibC.SOL_SOCKET, LibC.SO_REUSEADDR, "SO_REUSEADDR") != 0;
    }

    @Override
    public VSocketDatagramChannelConfig setReuseAddress(boolean reuseAddress) {
        set(LibC.SOL_SOCKET, LibC.SO_REUSEADDR, reuseAddress ? 1 : 0, "SO_REUSEADDR");
        return this;
    }

    /**
     * Whether the socket may share its port with others that set this too ({@link VSocketChannelOption#SO_REUSEPORT});
     * such a channel carries its datagrams over UDP only.
     */
    public boolean isReusePort() {
        return get(LibC.SOL_SOCKET, LibC.SO_REUSEPORT, "SO_REUSEPORT") != 0;
    }

    /** Lets the socket share its port with others that set this too, the kernel spreading datagrams over them. Before bind. */
    public VSocketDatagramChannelConfig setReusePort(boolean reusePort) {
        set(LibC.SOL_SOCKET, LibC.SO_REUSEPORT, reusePort ? 1 : 0, "SO_REUSEPORT");
        return this;
    }

    @Override
    public boolean isBroadcast() {
        return get(LibC.SOL_SOCKET, LibC.SO_BROADCAST, "SO_BROADCAST") != 0;
    }

    @Override
    public VSocketDatagramChannelConfig setBroadcast(boolean broadcast) {
        set(LibC.SOL_SOCKET, LibC.SO_BROADCAST, broadcast ? 1 : 0, "SO_BROADCAST");
        return this;
    }

    @Override
    public boolean isLoopbackModeDisabled() {
        return get(LibC.IPPROTO_IPV6, LibC.IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP") == 0;
    }

    @Override
    public VSocketDatagramChannelConfig setLoopbackModeDisabled(boolean loopbackModeDisabled) {
        int loop = loopbackModeDisabled ? 0 : 1;
        set(LibC.IPPROTO_IPV6, LibC.IPV6_MULTICAST_LOOP, loop, "IPV6_MULTICAST_LOOP");
        set(LibC.IPPROTO_IP, LibC.IP_MULTICAST_LOOP, loop, "IP_MULTICAST_LOOP");
        return this;
    }

    @Override
    public int getTimeToLive() {
        return get(LibC.IPPROTO_IPV6, LibC.IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS");
    }

    @Override
    public VSocketDatagramChannelConfig setTimeToLive(int ttl) {
        set(LibC.IPPROTO_IPV6, LibC.IPV6_MULTICAST_HOPS, ttl, "IPV6_MULTICAST_HOPS");
        set(LibC.IPPROTO_IP, LibC.IP_MULTICAST_TTL, ttl, "IP_MULTICAST_TTL");
        return this;
    }

    /** The address of the multicast interface (its first IPv4 address, else its first), or null when none is set. */
    @Override
    public InetAddress getInterface() {
        NetworkInterface nif = multicastInterface;
        if (nif == null) {
            return null;
        }
        InetAddress first = null;
        for (Enumeration<InetAddress> e = nif.getInetAddresses(); e.hasMoreElements(); ) {
            InetAddress address = e.nextElement();
            if (address instanceof Inet4Address) {
                return address;
            }
            if (first == null) {
                first = address;
            }
        }
        return first;
    }

    @Override
    public VSocketDatagramChannelConfig setInterface(InetAddress interfaceAddress) {
        try {
            NetworkInterface nif = NetworkInterface.getByInetAddress(interfaceAddress);
            if (nif == null) {
                throw new ChannelException("no network interface has the address " + interfaceAddress);
            }
            return setNetworkInterface(nif);
        } catch (SocketException e) {
            throw new ChannelException(e);
        }
    }

    @Override
    public NetworkInterface getNetworkInterface() {
        return multicastInterface;
    }

    /**
     * Sends multicast datagrams out of {@code networkInterface}: IPv6 ones by its index, IPv4 ones
     * by its IPv4 address (when it has one).
     */
    @Override
    public VSocketDatagramChannelConfig setNetworkInterface(NetworkInterface networkInterface) {
        set(LibC.IPPROTO_IPV6, LibC.IPV6_MULTICAST_IF, networkInterface.getIndex(), "IPV6_MULTICAST_IF");
        for (Enumeration<InetAddress> e = networkInterface.getInetAddresses(); e.hasMoreElements(); ) {
            InetAddress address = e.nextElement();
            if (address instanceof Inet4Address) {
                try {
                    socket.setBytesOption(LibC.IPPROTO_IP, LibC.IP_MULTICAST_IF, address.getAddress(), "IP_MULTICAST_IF");
                } catch (NativeIoException ex) {
                    throw new ChannelException(ex);
                }
                break;
            }
        }
        multicastInterface = networkInterface;
        return this;
    }

    @Override
    @Deprecated
    public VSocketDatagramChannelConfig setMaxMessagesPerRead(int maxMessagesPerRead) {
        super.setMaxMessagesPerRead(maxMessagesPerRead);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setWriteSpinCount(int writeSpinCount) {
        super.setWriteSpinCount(writeSpinCount);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setConnectTimeoutMillis(int connectTimeoutMillis) {
        super.setConnectTimeoutMillis(connectTimeoutMillis);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setAllocator(ByteBufAllocator allocator) {
        super.setAllocator(allocator);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setRecvByteBufAllocator(RecvByteBufAllocator allocator) {
        super.setRecvByteBufAllocator(allocator);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setAutoRead(boolean autoRead) {
        super.setAutoRead(autoRead);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setAutoClose(boolean autoClose) {
        super.setAutoClose(autoClose);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setWriteBufferHighWaterMark(int writeBufferHighWaterMark) {
        super.setWriteBufferHighWaterMark(writeBufferHighWaterMark);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setWriteBufferLowWaterMark(int writeBufferLowWaterMark) {
        super.setWriteBufferLowWaterMark(writeBufferLowWaterMark);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setWriteBufferWaterMark(WriteBufferWaterMark writeBufferWaterMark) {
        super.setWriteBufferWaterMark(writeBufferWaterMark);
        return this;
    }

    @Override
    public VSocketDatagramChannelConfig setMessageSizeEstimator(MessageSizeEstimator estimator) {
        super.setMessageSizeEstimator(estimator);
        return this;
    }
}
