package io.vsocket.channel;

import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ServerSocketChannel;
import io.vsocket.handshake.LinkListeners;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The server side of a vsocket stream: a TCP listener on an {@link InetSocketAddress} whose accepted
 * connections become {@link VSocketSocketChannel}s. Swap it in for {@code NioServerSocketChannel}.
 */
public final class VSocketServerSocketChannel extends AbstractVSocketChannel implements ServerSocketChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final VSocketServerSocketChannelConfig config;
    /** What the links keep across this server's connections (shm's rendezvous), opened on first use. */
    private final LinkListeners listeners = new LinkListeners(this);

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
        listeners.saveSyns(socket);
        socket.listen(config.getBacklog());
        local = socket.localAddress();
        active = true;
    }

    LinkListeners linkListeners() {
        return listeners;
    }

    @Override
    boolean leaveLoop() {
        return !listeners.anyOpen();
    }

    @Override
    String whyPinned() {
        return "its links' listeners (shm's rendezvous) are watched by that loop";
    }

    @Override
    protected void doClose() throws Exception {
        listeners.close();
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
