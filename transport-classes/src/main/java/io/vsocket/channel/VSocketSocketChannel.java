package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.FileRegion;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.handshake.LinkNegotiation;
import io.vsocket.handshake.NegotiationHost;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.IovArray;
import io.vsocket.link.TcpConnectionLink;
import io.vsocket.link.VSocketFileRegions;
import io.vsocket.link.VSocketLink;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.stream.StreamLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ConnectionPendingException;
import java.nio.channels.NotYetConnectedException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A vsocket stream: Netty's {@link SocketChannel} (with {@link io.netty.channel.socket.DuplexChannel}
 * half-closure) on an {@link InetSocketAddress}. Swap it in for {@code NioSocketChannel}.
 *
 * <p>Every connection starts as TCP. A {@link LinkNegotiation hello} on that connection picks the
 * link for the bytes: shm (a ring in shared memory, when both ends are on one host), rdma (a ring
 * written over an RDMA RC queue pair), or tcp (the connection itself, also for peers that do not
 * speak vsocket), each a {@link ConnectionLink} the channel drives. shm and rdma carry the same ring
 * protocol ({@link StreamLink}); on both the TCP connection stays open as the control channel: it
 * tells when the peer closes or dies. A client's connect completes
 * once the link is known, and a server's accepted channel becomes active then too (as an SMC
 * socket's connect and accept complete after its CLC handshake).
 *
 * <p>It writes {@link ByteBuf}s and {@link FileRegion}s, mixed in any order, on every link, as
 * Netty's epoll channel does; how a region's bytes travel on each link is the link's ({@code FileRegionWriter})
 * business, and what the JVM's flags allow there is {@link VSocketFileRegions}'.
 */
public final class VSocketSocketChannel extends AbstractVSocketChannel implements SocketChannel {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(VSocketSocketChannel.class);
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final VSocketSocketChannelConfig config;
    private ChannelPromise connectPromise;
    private Future<?> connectTimeout;
    private InetSocketAddress requestedRemote;
    private boolean inputClosedSeenErrorOnRead;
    private boolean inputShutdown;
    private boolean outputShutdown;

    /** Non-null while the hello is under way. */
    private LinkNegotiation negotiation;
    /** Null until the hello has picked the link; kept once closed (it still says which it was). */
    private volatile ConnectionLink connection;
    private final Host host = new Host();
    /** Bytes that arrived with the hello but belong to the application (a plain peer spoke first). */
    private ByteBuf pendingInbound;
    /** A channel that went on in tcp without the hello's end: its first inbound bytes may be a late hello. */
    private LinkNegotiation lateHello;
    /** Bytes (or the end of output) went out over tcp while a late hello was watched for: too late to take one. */
    private boolean sentWhileWatching;
    /** Output shut-downs asked for while a late offer's link is being made: done once the held writes went. */
    private final java.util.List<ChannelPromise> heldOutputShutdowns = new java.util.ArrayList<>(0);
    /** An input shut-down asked for while a late offer's link is being made: done once the link is there. */
    private boolean inputShutdownPending;
    private boolean inboundTaskPending;

    public VSocketSocketChannel() {
        super(null, newSocket(), false);
        this.config = new VSocketSocketChannelConfig(this, socket);
    }

    /** An accepted connection: active once the hello has picked its link. */
    VSocketSocketChannel(VSocketServerSocketChannel parent, NativeSocket socket) throws IOException {
        super(parent, socket, false);
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
     * The link that carries this stream's bytes: known from {@code channelActive} on (a client's
     * connect and a server's accepted channel both complete after the hello); null before.
     */
    public VSocketLink link() {
        ConnectionLink c = connection;
        return c != null ? c.kind() : null;
    }

    /**
     * The link this connection ran on before that link's path failed and its stream went on over
     * tcp (then {@link #link()} says tcp), or null: it never did.
     */
    public VSocketLink failedOverFrom() {
        ConnectionLink c = connection;
        return c != null ? c.failedOverFrom() : null;
    }

    /**
     * Bytes the rdma link has sent straight from the application's buffers, without copying them
     * (buffers of the {@link io.vsocket.buffer.RegisteredAllocator}); 0 on other links and once
     * closed. A metric: read it on the channel's event loop for an exact figure.
     */
    public long bytesSentInPlace() {
        ConnectionLink c = connection;
        return c != null ? c.bytesSentInPlace() : 0;
    }

    /**
     * Bytes this channel handed to its pipeline as they lay in the shm link's receive ring, without
     * a copy ({@link VSocketChannelOption#RECEIVE_IN_PLACE}); 0 on other links.
     */
    public long bytesReceivedInPlace() {
        ConnectionLink c = connection;
        return c != null ? c.bytesReceivedInPlace() : 0;
    }

    /**
     * Netty drops a {@code read()} made while a channel is not active; an accepted vsocket channel
     * is not active until its hello is done (unlike an accepted TCP channel, active at once), so a
     * read asked for before that is remembered here and made once the link is known.
     */
    @Override
    public VSocketSocketChannel read() {
        if (parent() != null && !active) {
            eventLoop().execute(() -> {
                if (!active && isOpen()) {
                    ((VSocketUnsafe) unsafe()).readPending = true;
                }
            });
        }
        super.read();
        return this;
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
        return inputShutdown || !isOpen();
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown || !isOpen();
    }

    @Override
    public boolean isShutdown() {
        return inputShutdown && outputShutdown || !isOpen();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            shutdownOutputNow(promise);
        } else {
            loop.execute(() -> shutdownOutputNow(promise));
        }
        return promise;
    }

    private void shutdownOutputNow(ChannelPromise promise) {
        if (negotiation != null && active) {
            // A late offer's link is being made, with writes held: shutting the output now would fail
            // them (Netty fails what is unwritten), so it waits until they went on the new link.
            heldOutputShutdowns.add(promise);
            return;
        }
        ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
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
            shutdownInputState();
            stopReading();
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

    /** Input is shut: what that means for the bytes still coming is the link's business. */
    private void shutdownInputState() throws IOException {
        if (negotiation != null) {
            inputShutdownPending = true; // a late offer's link is being made: see linkEstablished
        } else {
            connection.shutdownInput();
        }
        inputShutdown = true;
    }

    @Override
    protected void doShutdownOutput() throws Exception {
        ensureConnected();
        if (lateHello != null) {
            sentWhileWatching = true;
        }
        connection.shutdownOutput();
        outputShutdown = true;
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
    }

    /** An accepted channel starts its side of the hello as soon as it is registered. */
    @Override
    void registered() {
        if (parent() != null && negotiation == null && connection == null && isOpen()) {
            negotiation = new LinkNegotiation(host, socket, config);
            negotiation.startServer(parent().shmRendezvous(config.getLinks()));
            negotiationInterestChanged();
        }
    }

    void negotiationInterestChanged() {
        if (negotiation != null) {
            int wanted = negotiation.interest();
            clearFlag(~wanted & (VSocketIoOps.IN | VSocketIoOps.RDHUP | VSocketIoOps.PRI | VSocketIoOps.OUT));
            setFlag(wanted);
        }
    }

    /** What the links the hello makes for this channel call back. */
    NegotiationHost linkHost() {
        return host;
    }

    /** The hello picked the link: move the data path onto it. */
    void linkEstablished(ConnectionLink established, ByteBuf leftover) {
        negotiation = null;
        ConnectionLink before = connection;
        if (before != null && before != established) {
            before.close(); // the tcp link a late offer's link replaces (the socket stays: it is the channel's)
        }
        connection = established;
        pendingInbound = leftover;
        clearFlag(VSocketIoOps.PRI);
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        boolean reading = unsafe.readPending || config.isAutoRead();
        if (!isOpen()) {
            established.close();
            return;
        }
        established.start(reading);
        ChannelPromise promise = takeConnectPromise();
        if (promise != null) {
            unsafe.fulfillConnect(promise, false);
        } else if (!active) {
            // An accepted channel becomes active now, with its link known (the pipeline then reads
            // if auto-read is on).
            active = true;
            pipeline().fireChannelActive();
            if (isOpen()) {
                unsafe.flushLater(); // what was written before the link was known
            }
        } else if (isOpen()) {
            // A client that took a late offer: what it wrote, or shut, while the link was being made.
            if (inputShutdownPending) {
                inputShutdownPending = false;
                try {
                    established.shutdownInput();
                } catch (IOException e) {
                    pipeline().fireExceptionCaught(e);
                    unsafe.close(unsafe.voidPromise());
                    return;
                }
            }
            unsafe.flushLater();
            if (!heldOutputShutdowns.isEmpty()) {
                ChannelPromise[] held = heldOutputShutdowns.toArray(new ChannelPromise[0]);
                heldOutputShutdowns.clear();
                // After the flush task: the held writes go first.
                eventLoop().execute(() -> {
                    for (ChannelPromise p : held) {
                        ((AbstractUnsafe) unsafe()).shutdownOutput(p);
                    }
                });
            }
        }
        if (hasHeldInbound() && reading && isOpen()) {
            unsafe.inReady();
        }
    }

    /** Inbound bytes already taken off the socket by the hello (epoll will not report them again). */
    private boolean hasHeldInbound() {
        return pendingInbound != null || lateHello != null;
    }

    /** The pending connect's promise, now no longer pending (its timeout cancelled); null if none. */
    private ChannelPromise takeConnectPromise() {
        ChannelPromise promise = connectPromise;
        connectPromise = null;
        if (connectTimeout != null) {
            connectTimeout.cancel(false);
            connectTimeout = null;
        }
        return promise;
    }

    /**
     * A late offer this client can still take (it sent nothing over tcp yet): the hello gets the
     * socket back and makes the link, the channel staying active on tcp meanwhile with its writes
     * held ({@link #linkEstablished} then moves it onto the new link, or leaves it on tcp).
     */
    private void takeLateOffer() {
        negotiation = lateHello;
        lateHello = null;
        LinkNegotiation hello = negotiation;
        hello.upgrade();
        if (negotiation == hello) {
            negotiationInterestChanged();
        }
    }

    /** The client gave up on the hello and goes on over tcp, watching for a late offer. */
    void linkEstablishedWatchingLateHello(LinkNegotiation watch) {
        lateHello = watch;
        linkEstablished(new TcpConnectionLink(host, socket, config), null);
    }

    void negotiationFailed(Throwable cause) {
        negotiation = null;
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        ChannelPromise promise = takeConnectPromise();
        if (promise != null) {
            promise.tryFailure(cause);
        } else {
            pipeline().fireExceptionCaught(cause);
        }
        unsafe.close(unsafe.voidPromise());
    }

    @Override
    protected void doDisconnect() throws Exception {
        doClose();
    }

    @Override
    protected void doClose() throws Exception {
        try {
            if (negotiation != null) {
                negotiation.abort();
                negotiation = null;
            }
            if (pendingInbound != null) {
                pendingInbound.release();
                pendingInbound = null;
            }
            if (lateHello != null) {
                lateHello.abort();
                lateHello = null;
            }
            for (ChannelPromise p : heldOutputShutdowns) {
                p.tryFailure(new ClosedChannelException());
            }
            heldOutputShutdowns.clear();
            ConnectionLink c = connection;
            if (c != null) {
                c.close();
            }
            ChannelPromise promise = connectPromise;
            if (promise != null) {
                promise.tryFailure(new ClosedChannelException());
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
    void stopReading() {
        ConnectionLink c = connection;
        if (negotiation != null) {
            // The hello reads for itself (a late offer's link being made under a tcp channel too).
        } else if (c != null) {
            c.readInterest(false);
        } else {
            clearFlag(VSocketIoOps.IN);
        }
    }

    @Override
    protected void doBeginRead() {
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        unsafe.readPending = true;
        ConnectionLink c = connection;
        if (negotiation != null || c == null) {
            // The hello reads for itself; reading for the application starts once the link is known.
            return;
        }
        if (pendingInbound != null && !inboundTaskPending) {
            // Bytes already taken off the socket: epoll will not report them, so read them from a task
            // (one at a time, and only if a read is still wanted when it runs). Not for a late-hello
            // watch alone: what it holds is at most the start of a hello, which only more bytes from the
            // socket can finish, and epoll reports those; a task there found nothing and, the read
            // being wanted still, queued the next one, spinning the loop while the server was silent.
            inboundTaskPending = true;
            eventLoop().execute(() -> {
                inboundTaskPending = false;
                if (pendingInbound != null && isOpen()
                        && (unsafe.readPending || config.isAutoRead())) {
                    unsafe.inReady();
                }
            });
        }
        if (!inputShutdown || !inputClosedSeenErrorOnRead && config.isAllowHalfClosure()) {
            // Before the end; or half-closed, for the one more read that reports all was read.
            c.readInterest(true);
        }
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf buf) {
            // One writev takes at most IOV_MAX pieces: a direct composite of more is copied whole.
            int parts = buf.nioBufferCount();
            return buf.isDirect() && parts > 0 && parts <= IovArray.MAX ? buf : newDirectBuffer(buf);
        }
        if (msg instanceof FileRegion) {
            // Written as it is, on every link (see FileRegionWriter), as Netty's epoll transport takes it.
            return msg;
        }
        throw new UnsupportedOperationException("unsupported message type: " + msg.getClass().getName()
                + " (expected ByteBuf, FileRegion)");
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
        ConnectionLink c = connection;
        if (c == null || negotiation != null) {
            // The hello is under way (or a late offer's link is being made): the writes wait in the
            // outbound buffer for the link.
            return;
        }
        if (lateHello != null && !in.isEmpty()) {
            sentWhileWatching = true;
        }
        c.write(in);
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
                connectPromise = promise;
                requestedRemote = target;
                if (doConnect(target, localAddress)) {
                    tcpConnected();
                    if (connectPromise == null) {
                        return;
                    }
                }
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

        /**
         * The TCP connection is up: start the hello, or finish at once when tcp is the only link
         * allowed (then this side never speaks vsocket, and the peer sees a plain client).
         */
        private void tcpConnected() throws IOException {
            connected();
            List<VSocketLink> allowed = config.getLinks();
            if (allowed.size() == 1 && allowed.get(0) == VSocketLink.TCP) {
                linkEstablished(new TcpConnectionLink(host, socket, config), null);
                return;
            }
            negotiation = new LinkNegotiation(host, socket, config);
            negotiation.startClient();
            negotiationInterestChanged();
        }

        void fulfillConnect(ChannelPromise promise, boolean wasActive) {
            active = true;
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
            try {
                if (socket.finishConnect(requestedRemote)) {
                    clearFlag(VSocketIoOps.OUT);
                    tcpConnected();
                }
            } catch (Throwable t) {
                if (connectTimeout != null) {
                    connectTimeout.cancel(false);
                }
                connectPromise = null;
                promise.tryFailure(annotateConnectException(t, requestedRemote));
                closeIfClosed();
                close(voidPromise());
            }
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            if (!isOpen()) {
                // Readiness polled in the same batch as an earlier close: the descriptor is gone.
                return;
            }
            ConnectionLink c = connection;
            if (negotiation != null) {
                negotiation.ready();
            } else if (c != null) {
                c.socketReady((VSocketIoEvent) event);
            } else {
                super.handle(registration, event);
            }
        }

        /** The socket's readiness handled as every vsocket channel does (the tcp link's data path). */
        void socketReadyForChannel(VSocketIoEvent event) {
            super.handle(null, event);
        }

        @Override
        void outReady() {
            if (connectPromise != null) {
                finishConnect();
            } else if (!outputShutdown || outboundBuffer() != null) {
                super.flush0();
            }
        }

        void flushLater() {
            super.flush0();
        }

        @Override
        protected void flush0() {
            if (connection == null && parent() != null && isOpen()) {
                // An accepted channel whose hello is not done yet (a handler may write from another
                // thread as soon as it is initialised): the writes wait for the link, not fail.
                return;
            }
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
                if (isOpen() && inputShutdown) {
                    inReady();
                }
            }
            clearFlag(VSocketIoOps.RDHUP);
        }

        @Override
        void inReady() {
            ChannelConfig cfg = config();
            if (inputShutdown && (inputClosedSeenErrorOnRead || !config.isAllowHalfClosure())) {
                stopReading();
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
                    buf = lendFromRing(allocator);
                    if (buf != null) {
                        allocHandle.attemptedBytesRead(buf.readableBytes());
                        allocHandle.lastBytesRead(buf.readableBytes());
                    } else {
                        buf = allocHandle.allocate(allocator);
                        allocHandle.attemptedBytesRead(buf.writableBytes());
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
                    }
                    allocHandle.incMessagesRead(1);
                    readPending = false;
                    pipeline.fireChannelRead(buf);
                    buf = null;
                    // A handler may have closed the channel: its descriptor's number may be another
                    // socket's by now (another loop's accept), and a read through it would take that
                    // connection's bytes.
                } while (isOpen() && allocHandle.continueReading());
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
                    stopReading();
                }
            }
        }

        /**
         * The next unread bytes as they lie in the link's memory (no copy), when the link lends them
         * (the shm link, as the option allows); else null. Never while hello leftovers come first.
         */
        private ByteBuf lendFromRing(ByteBufAllocator allocator) throws IOException {
            ConnectionLink c = connection;
            if (c == null || negotiation != null || lateHello != null || pendingInbound != null) {
                return null;
            }
            return c.lend(allocator);
        }

        /** Reads into {@code buf} at its writer index without moving it: the count, 0, or EOF. */
        private int readInto(ByteBuf buf) throws IOException {
            int writable = buf.writableBytes();
            int index = buf.writerIndex();
            if (negotiation != null) {
                return 0; // a late offer's link is being made: the hello reads the socket
            }
            if (lateHello != null) {
                int state = lateHello.watchLateHello(sentWhileWatching);
                if (state == LinkNegotiation.WATCHING) {
                    return 0;
                }
                if (state == LinkNegotiation.WATCH_UPGRADE) {
                    takeLateOffer();
                    return 0;
                }
                pendingInbound = lateHello.takeLeftover();
                lateHello = null;
                if (state == LinkNegotiation.WATCH_EOF) {
                    return NativeSocket.EOF;
                }
            }
            if (pendingInbound != null) {
                int n = Math.min(writable, pendingInbound.readableBytes());
                buf.setBytes(index, pendingInbound, pendingInbound.readerIndex(), n);
                pendingInbound.skipBytes(n);
                if (!pendingInbound.isReadable()) {
                    pendingInbound.release();
                    pendingInbound = null;
                }
                return n;
            }
            ConnectionLink c = connection;
            return c != null ? c.read(buf) : 0;
        }

        /** The peer closed its side: half-close or close, as {@code ALLOW_HALF_CLOSURE} says. */
        private void inputEnded() {
            if (!inputShutdown) {
                if (config.isAllowHalfClosure()) {
                    try {
                        shutdownInputState();
                    } catch (IOException e) {
                        pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                        close(voidPromise());
                        return;
                    }
                    pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                } else {
                    close(voidPromise());
                }
            } else if (!inputClosedSeenErrorOnRead) {
                inputClosedSeenErrorOnRead = true;
                stopReading();
                pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
            }
        }
    }

    /** What the hello and the link see of this channel. */
    private final class Host implements NegotiationHost {
        @Override
        public void linkEstablished(ConnectionLink link, ByteBuf leftover) {
            VSocketSocketChannel.this.linkEstablished(link, leftover);
        }

        @Override
        public void linkEstablishedWatchingLateHello(LinkNegotiation watch) {
            VSocketSocketChannel.this.linkEstablishedWatchingLateHello(watch);
        }

        @Override
        public void negotiationFailed(Throwable cause) {
            VSocketSocketChannel.this.negotiationFailed(cause);
        }

        @Override
        public void negotiationInterestChanged() {
            VSocketSocketChannel.this.negotiationInterestChanged();
        }

        @Override
        public InetSocketAddress remoteAddress() {
            return VSocketSocketChannel.this.remoteAddress();
        }

        @Override
        public String toString() {
            return VSocketSocketChannel.this.toString();
        }

        private final Runnable flushTask = () -> ((VSocketUnsafe) unsafe()).flushLater();

        @Override
        public EventLoop eventLoop() {
            return VSocketSocketChannel.this.eventLoop();
        }

        @Override
        public VSocketIoHandler ioHandler() {
            return VSocketSocketChannel.this.ioHandler();
        }

        @Override
        public void watch(int ops) {
            setFlag(ops);
        }

        @Override
        public void unwatch(int ops) {
            clearFlag(ops);
        }

        @Override
        public void readReady() {
            ((VSocketUnsafe) unsafe()).inReady();
        }

        @Override
        public void flushReady() {
            ((VSocketUnsafe) unsafe()).flushLater();
        }

        @Override
        public void flushLater() {
            eventLoop().execute(flushTask);
        }

        @Override
        public void socketReadyForChannel(VSocketIoEvent event) {
            ((VSocketUnsafe) unsafe()).socketReadyForChannel(event);
        }

        @Override
        public void failed(Throwable cause) {
            pipeline().fireExceptionCaught(cause);
            unsafe().close(unsafe().voidPromise());
        }

        @Override
        public boolean isOpen() {
            return VSocketSocketChannel.this.isOpen();
        }

        @Override
        public boolean isInputShutdown() {
            return inputShutdown;
        }
    }
}
