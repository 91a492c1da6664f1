package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ConnectionPendingException;
import java.nio.channels.NotYetConnectedException;
import java.util.concurrent.TimeUnit;

/**
 * A vsocket stream: Netty's {@link SocketChannel} (with {@link io.netty.channel.socket.DuplexChannel}
 * half-closure) on an {@link InetSocketAddress}. Swap it in for {@code NioSocketChannel}.
 *
 * <p>Today its bytes travel on the tcp link: the TCP connection itself, read and written with
 * non-blocking system calls from the event loop. The shm and rdma links take over the data path of
 * the same channel once a peer offers them.
 */
public final class VSocketSocketChannel extends AbstractVSocketChannel implements SocketChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final VSocketSocketChannelConfig config;
    private ChannelPromise connectPromise;
    private Future<?> connectTimeout;
    private InetSocketAddress requestedRemote;
    private boolean inputClosedSeenErrorOnRead;

    public VSocketSocketChannel() {
        super(null, newSocket(), false);
        this.config = new VSocketSocketChannelConfig(this, socket);
    }

    /** An accepted connection. */
    VSocketSocketChannel(VSocketServerSocketChannel parent, NativeSocket socket) throws IOException {
        super(parent, socket, true);
        this.config = new VSocketSocketChannelConfig(this, socket);
        this.local = socket.localAddress();
        this.remote = socket.remoteAddress();
    }

    private static NativeSocket newSocket() {
        try {
            return NativeSocket.newStreamSocket();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a socket", e);
        }
    }

    /**
     * The link that carries this stream's bytes. Only the tcp link exists so far, so this is
     * {@link VSocketLink#TCP} for every connection.
     */
    public VSocketLink link() {
        return VSocketLink.TCP;
    }

    @Override
    public VSocketServerSocketChannel parent() {
        return (VSocketServerSocketChannel) super.parent();
    }

    @Override
    public VSocketSocketChannelConfig config() {
        return config;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public boolean isInputShutdown() {
        return socket.isInputShutdown() || !isOpen();
    }

    @Override
    public boolean isOutputShutdown() {
        return socket.isOutputShutdown() || !isOpen();
    }

    @Override
    public boolean isShutdown() {
        return socket.isInputShutdown() && socket.isOutputShutdown() || !isOpen();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
        } else {
            loop.execute(() -> ((AbstractUnsafe) unsafe()).shutdownOutput(promise));
        }
        return promise;
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            shutdownInput0(promise);
        } else {
            loop.execute(() -> shutdownInput0(promise));
        }
        return promise;
    }

    private void shutdownInput0(ChannelPromise promise) {
        try {
            ensureConnected();
            socket.shutdown(true, false);
            clearFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
            promise.setSuccess();
        } catch (Throwable t) {
            promise.setFailure(t);
        }
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        ChannelFuture output = shutdownOutput();
        if (output.isDone()) {
            shutdownAfterOutput(output, promise);
        } else {
            output.addListener((ChannelFutureListener) f -> shutdownAfterOutput(f, promise));
        }
        return promise;
    }

    private void shutdownAfterOutput(ChannelFuture output, ChannelPromise promise) {
        ChannelFuture input = shutdownInput();
        input.addListener((ChannelFutureListener) f -> {
            Throwable cause = output.cause() != null ? output.cause() : f.cause();
            if (cause != null) {
                promise.setFailure(cause);
            } else {
                promise.setSuccess();
            }
        });
    }

    @Override
    protected void doShutdownOutput() throws Exception {
        ensureConnected();
        socket.shutdown(false, true);
    }

    private void ensureConnected() throws IOException {
        socket.ensureOpen();
        if (!active) {
            throw new NotYetConnectedException();
        }
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        socket.bind((InetSocketAddress) localAddress);
        local = socket.localAddress();
    }

    /** Starts the connection: true when it completed at once. */
    private boolean doConnect(InetSocketAddress remoteAddress, SocketAddress localAddress) throws Exception {
        if (localAddress != null) {
            doBind(localAddress);
        }
        boolean connected = socket.connect(remoteAddress);
        if (!connected) {
            setFlag(VSocketIoOps.OUT);
        }
        return connected;
    }

    private void connected() throws IOException {
        local = socket.localAddress();
        remote = socket.remoteAddress();
        active = true;
    }

    @Override
    protected void doDisconnect() throws Exception {
        doClose();
    }

    @Override
    protected void doClose() throws Exception {
        try {
            ChannelPromise promise = connectPromise;
            if (promise != null) {
                promise.tryFailure(new java.nio.channels.ClosedChannelException());
                connectPromise = null;
            }
            if (connectTimeout != null) {
                connectTimeout.cancel(false);
                connectTimeout = null;
            }
        } finally {
            super.doClose();
        }
    }

    @Override
    protected void doBeginRead() {
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        unsafe.readPending = true;
        if (!socket.isInputShutdown()) {
            setFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        } else if (!inputClosedSeenErrorOnRead && config.isAllowHalfClosure()) {
            // Half-closed: one more read reports that everything has been read.
            setFlag(VSocketIoOps.IN);
        }
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf buf) {
            return buf.isDirect() && buf.nioBufferCount() > 0 ? buf : newDirectBuffer(buf);
        }
        throw new UnsupportedOperationException("unsupported message type: " + msg.getClass().getName()
                + " (expected ByteBuf)");
    }

    /** Copies a heap or composite-heap buffer into a direct one, which the system calls can read. */
    private ByteBuf newDirectBuffer(ByteBuf buf) {
        int readable = buf.readableBytes();
        if (readable == 0) {
            ReferenceCountUtil.release(buf);
            return Unpooled.EMPTY_BUFFER;
        }
        ByteBufAllocator alloc = alloc();
        ByteBuf direct = alloc.isDirectBufferPooled() ? alloc.directBuffer(readable) : ByteBufUtil.threadLocalDirectBuffer();
        if (direct == null) {
            direct = alloc.directBuffer(readable);
        }
        direct.writeBytes(buf, buf.readerIndex(), readable);
        ReferenceCountUtil.safeRelease(buf);
        return direct;
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        int spin = config.getWriteSpinCount();
        while (spin-- > 0) {
            int pending = in.size();
            if (pending == 0) {
                clearFlag(VSocketIoOps.OUT);
                return;
            }
            long written;
            long attempted;
            if (pending == 1) {
                ByteBuf buf = (ByteBuf) in.current();
                attempted = buf.readableBytes();
                if (attempted == 0) {
                    in.remove();
                    continue;
                }
                written = writeBuffer(buf);
            } else {
                IovArray iov = IovArray.get();
                in.forEachFlushedMessage(iov);
                attempted = iov.bytes();
                if (attempted == 0) {
                    // Only empty buffers at the head: drop them.
                    in.removeBytes(0);
                    continue;
                }
                written = socket.writev(iov.segment(), iov.count());
            }
            if (written > 0) {
                in.removeBytes(written);
            }
            if (written < attempted) {
                // The socket buffer is full: wait for writability.
                setFlag(VSocketIoOps.OUT);
                return;
            }
        }
        // Spun out with data left: let other channels run, then continue.
        eventLoop().execute(((VSocketUnsafe) unsafe())::flushLater);
    }

    private long writeBuffer(ByteBuf buf) throws IOException {
        int length = buf.readableBytes();
        if (buf.hasMemoryAddress()) {
            return socket.write(buf.memoryAddress() + buf.readerIndex(), length);
        }
        if (buf.nioBufferCount() == 1) {
            ByteBuffer nio = buf.internalNioBuffer(buf.readerIndex(), length);
            return socket.write(MemorySegment.ofBuffer(nio).address(), length);
        }
        IovArray iov = IovArray.get();
        iov.add(buf);
        return socket.writev(iov.segment(), iov.count());
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new VSocketUnsafe();
    }

    final class VSocketUnsafe extends AbstractVSocketUnsafe {

        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            if (!promise.setUncancellable() || !ensureOpen(promise)) {
                return;
            }
            try {
                if (connectPromise != null) {
                    throw new ConnectionPendingException();
                }
                if (active) {
                    throw new AlreadyConnectedException();
                }
                InetSocketAddress target = (InetSocketAddress) remoteAddress;
                boolean wasActive = isActive();
                if (doConnect(target, localAddress)) {
                    fulfillConnect(promise, wasActive);
                    return;
                }
                connectPromise = promise;
                requestedRemote = target;
                int timeoutMillis = config.getConnectTimeoutMillis();
                if (timeoutMillis > 0) {
                    connectTimeout = eventLoop().schedule(() -> {
                        ChannelPromise pending = connectPromise;
                        if (pending != null && !pending.isDone() && pending.tryFailure(new ConnectTimeoutException(
                                "connection timed out after " + timeoutMillis + " ms: " + target))) {
                            close(voidPromise());
                        }
                    }, timeoutMillis, TimeUnit.MILLISECONDS);
                }
                promise.addListener((ChannelFutureListener) future -> {
                    if (future.isCancelled()) {
                        if (connectTimeout != null) {
                            connectTimeout.cancel(false);
                        }
                        connectPromise = null;
                        close(voidPromise());
                    }
                });
            } catch (Throwable t) {
                promise.tryFailure(annotateConnectException(t, remoteAddress));
                closeIfClosed();
            }
        }

        private void fulfillConnect(ChannelPromise promise, boolean wasActive) throws IOException {
            connected();
            // Read before completing the promise: a listener may close the channel at once, and
            // channelActive must still come before channelInactive.
            boolean activeNow = isActive();
            boolean promiseSet = promise.trySuccess();
            if (!wasActive && activeNow) {
                pipeline().fireChannelActive();
            }
            if (!promiseSet) {
                close(voidPromise());
            }
        }

        private void finishConnect() {
            ChannelPromise promise = connectPromise;
            boolean done = true;
            try {
                boolean wasActive = isActive();
                if (socket.finishConnect(requestedRemote)) {
                    clearFlag(VSocketIoOps.OUT);
                    fulfillConnect(promise, wasActive);
                } else {
                    done = false;
                }
            } catch (Throwable t) {
                promise.tryFailure(annotateConnectException(t, requestedRemote));
                closeIfClosed();
                close(voidPromise());
            } finally {
                if (done) {
                    if (connectTimeout != null) {
                        connectTimeout.cancel(false);
                    }
                    connectPromise = null;
                }
            }
        }

        @Override
        void outReady() {
            if (connectPromise != null) {
                finishConnect();
            } else if (!socket.isOutputShutdown() || outboundBuffer() != null) {
                super.flush0();
            }
        }

        void flushLater() {
            super.flush0();
        }

        @Override
        protected void flush0() {
            // While waiting for writability the loop will flush on EPOLLOUT; writing now would only spin.
            if (!isFlagSet(VSocketIoOps.OUT)) {
                super.flush0();
            }
        }

        /**
         * The peer shut its output down. Read what is left (the end of stream comes out of read and
         * half-closes the input), then read once more so a half-closed channel also learns that all
         * its data has been read; epoll reports the hang-up only once it is cleared.
         */
        @Override
        void hangUpReady() {
            if (isActive()) {
                inReady();
                if (isOpen() && socket.isInputShutdown()) {
                    inReady();
                }
            }
            clearFlag(VSocketIoOps.RDHUP);
        }

        @Override
        void inReady() {
            ChannelConfig cfg = config();
            if (socket.isInputShutdown() && (inputClosedSeenErrorOnRead || !config.isAllowHalfClosure())) {
                clearFlag(VSocketIoOps.IN);
                return;
            }
            ChannelPipeline pipeline = pipeline();
            ByteBufAllocator allocator = cfg.getAllocator();
            RecvByteBufAllocator.Handle allocHandle = recvBufAllocHandle();
            allocHandle.reset(cfg);
            ByteBuf buf = null;
            boolean eof = false;
            try {
                do {
                    buf = allocHandle.allocate(allocator);
                    int n = readInto(buf);
                    allocHandle.lastBytesRead(n);
                    if (n <= 0) {
                        buf.release();
                        buf = null;
                        eof = n < 0;
                        if (eof) {
                            readPending = false;
                        }
                        break;
                    }
                    buf.writerIndex(buf.writerIndex() + n);
                    allocHandle.incMessagesRead(1);
                    readPending = false;
                    pipeline.fireChannelRead(buf);
                    buf = null;
                } while (allocHandle.continueReading());
                allocHandle.readComplete();
                pipeline.fireChannelReadComplete();
                if (eof) {
                    inputEnded();
                }
            } catch (Throwable t) {
                if (buf != null) {
                    if (buf.isReadable()) {
                        readPending = false;
                        pipeline.fireChannelRead(buf);
                    } else {
                        buf.release();
                    }
                }
                allocHandle.readComplete();
                pipeline.fireChannelReadComplete();
                pipeline.fireExceptionCaught(t);
                if (t instanceof IOException) {
                    close(voidPromise());
                }
            } finally {
                if (!readPending && !cfg.isAutoRead()) {
                    clearFlag(VSocketIoOps.IN);
                }
            }
        }

        private int readInto(ByteBuf buf) throws IOException {
            int writable = buf.writableBytes();
            int index = buf.writerIndex();
            if (buf.hasMemoryAddress()) {
                return socket.read(buf.memoryAddress() + index, writable);
            }
            if (buf.isDirect() && buf.nioBufferCount() == 1) {
                return socket.read(MemorySegment.ofBuffer(buf.internalNioBuffer(index, writable)).address(), writable);
            }
            // A heap or composite buffer: read through a direct scratch and copy.
            ByteBuf scratch = ByteBufUtil.threadLocalDirectBuffer();
            if (scratch == null) {
                scratch = Unpooled.directBuffer(writable);
            }
            try {
                scratch.ensureWritable(writable);
                int n = socket.read(MemorySegment.ofBuffer(scratch.internalNioBuffer(0, writable)).address(), writable);
                if (n > 0) {
                    buf.setBytes(index, scratch, 0, n);
                }
                return n;
            } finally {
                scratch.release();
            }
        }

        /** The peer closed its side: half-close or close, as {@code ALLOW_HALF_CLOSURE} says. */
        private void inputEnded() {
            if (!socket.isInputShutdown()) {
                if (config.isAllowHalfClosure()) {
                    try {
                        socket.shutdown(true, false);
                    } catch (IOException e) {
                        pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                        close(voidPromise());
                        return;
                    }
                    clearFlag(VSocketIoOps.RDHUP);
                    pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                } else {
                    close(voidPromise());
                }
            } else if (!inputClosedSeenErrorOnRead) {
                inputClosedSeenErrorOnRead = true;
                clearFlag(VSocketIoOps.IN);
                pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
            }
        }
    }

}
