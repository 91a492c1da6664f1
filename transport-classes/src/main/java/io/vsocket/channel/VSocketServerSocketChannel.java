package io.vsocket.channel;

import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.IoEventLoop;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.handshake.HostIdentity;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;

/**
 * The server side of a vsocket stream: a TCP listener on an {@link InetSocketAddress} whose accepted
 * connections become {@link VSocketSocketChannel}s. Swap it in for {@code NioServerSocketChannel}.
 */
public final class VSocketServerSocketChannel extends AbstractVSocketChannel implements ServerSocketChannel {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(VSocketServerSocketChannel.class);
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final VSocketServerSocketChannelConfig config;
    private ShmRendezvous rendezvous;
    private boolean rendezvousFailed;

    public VSocketServerSocketChannel() {
        super(null, newSocket(), false);
        this.config = new VSocketServerSocketChannelConfig(this);
    }

    private static NativeSocket newSocket() {
        try {
            return NativeSocket.newStreamSocket();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a server socket", e);
        }
    }

    @Override
    public VSocketServerSocketChannelConfig config() {
        return config;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return null;
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        socket.bind((InetSocketAddress) localAddress);
        socket.listen(config.getBacklog());
        local = socket.localAddress();
        active = true;
    }

    /**
     * The listener where this server's shm connections get their descriptors, opened on first use;
     * null when shm is not allowed or cannot work here (then connections are offered the rest).
     */
    synchronized ShmRendezvous shmRendezvous(List<VSocketLink> childLinks) {
        if (rendezvous != null || rendezvousFailed || !childLinks.contains(VSocketLink.SHM) || !isOpen()
                || HostIdentity.local().isEmpty()) {
            return rendezvous;
        }
        try {
            rendezvous = ShmRendezvous.open((IoEventLoop) eventLoop());
        } catch (IOException | RuntimeException e) {
            rendezvousFailed = true;
            logger.info("{}: no shm rendezvous, its connections will not use shm: {}", this, e.toString());
        }
        return rendezvous;
    }

    @Override
    protected void doClose() throws Exception {
        synchronized (this) {
            if (rendezvous != null) {
                ShmRendezvous r = rendezvous;
                rendezvous = null;
                rendezvousFailed = true;
                r.close();
            }
        }
        super.doClose();
    }

    @Override
    protected void doBeginRead() {
        ((AbstractVSocketUnsafe) unsafe()).readPending = true;
        setFlag(VSocketIoOps.IN);
    }

    @Override
    protected void doDisconnect() {
        throw new UnsupportedOperationException();
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) {
        throw new UnsupportedOperationException();
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        throw new UnsupportedOperationException();
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new AcceptUnsafe();
    }

    private final class AcceptUnsafe extends AbstractVSocketUnsafe {
        @Override
        public void connect(SocketAddress remote, SocketAddress local, ChannelPromise promise) {
            promise.setFailure(new UnsupportedOperationException("a server channel does not connect"));
        }

        @Override
        void inReady() {
            assert eventLoop().inEventLoop();
            ChannelPipeline pipeline = pipeline();
            RecvByteBufAllocator.Handle allocHandle = recvBufAllocHandle();
            allocHandle.reset(config);
            Throwable error = null;
            try {
                do {
                    NativeSocket child = socket.accept();
                    if (child == null) {
                        allocHandle.lastBytesRead(0);
                        break;
                    }
                    allocHandle.lastBytesRead(1);
                    allocHandle.incMessagesRead(1);
                    readPending = false;
                    VSocketSocketChannel channel;
                    try {
                        channel = new VSocketSocketChannel(VSocketServerSocketChannel.this, child);
                    } catch (Throwable t) {
                        child.close();
                        throw t;
                    }
                    pipeline.fireChannelRead(channel);
                } while (allocHandle.continueReading());
            } catch (Throwable t) {
                error = t;
            }
            allocHandle.readComplete();
            pipeline.fireChannelReadComplete();
            if (error != null) {
                pipeline.fireExceptionCaught(error);
            }
            if (!readPending && !config.isAutoRead()) {
                clearFlag(VSocketIoOps.IN);
            }
        }
    }
}
