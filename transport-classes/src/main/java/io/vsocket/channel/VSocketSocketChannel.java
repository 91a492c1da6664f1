package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.FileRegion;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.socket.ChannelOutputShutdownException;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.handshake.LinkNegotiation;
import io.vsocket.handshake.NegotiationHost;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.IovArray;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.VSocketFileRegions;
import io.vsocket.link.VSocketLink;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ConnectionPendingException;
import java.nio.channels.NotYetConnectedException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * A vsocket stream: Netty's {@link SocketChannel} (with {@link io.netty.channel.socket.DuplexChannel}
 * half-closure) on an {@link InetSocketAddress}. Swap it in for {@code NioSocketChannel}.
 *
 * <p>Every connection starts as TCP. A {@link LinkNegotiation hello} on that connection picks the
 * link for the bytes — shm, rdma or tcp, each a {@link ConnectionLink} — which the channel's
 * {@link StreamPath} holds; the channel itself keeps Netty's semantics. A client's connect completes
 * once the link is known, or at once over tcp where the link is an upgrade to come. A server's
 * accepted channel runs its hello as soon as its descriptor is registered with its loop, and its
 * registration completes — the pipeline's {@code handlerAdded}, {@code channelRegistered},
 * {@code channelActive} — once the link is known, as an SMC socket's accept completes after its CLC
 * handshake: the pipeline then meets an active channel, as on epoll (a handler that writes in
 * {@code handlerAdded} if the channel is active, and another that writes there regardless, write in
 * epoll's order: an HTTP/2 server's preface before its connection window update).
 *
 * <p>It writes {@link ByteBuf}s and {@link FileRegion}s, mixed in any order, on every link, as
 * Netty's epoll channel does; how a region's bytes travel on each link is the link's ({@code FileRegionWriter})
 * business, and what the JVM's flags allow there is {@link VSocketFileRegions}'.
 */
public final class VSocketSocketChannel extends AbstractVSocketChannel implements SocketChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);
    /**
     * A close that lets the ring take the flushed writes gives up after the peer took nothing for this long
     * ({@code -Dio.vsocket.closeDrainStallMillis}). Long enough for a reader that pauses — auto-read off for
     * backpressure, a stopped process, a long collection — to get every byte, as from epoll, whose kernel
     * holds what its buffers took (some MiB) however long the reader waits, and keeps a closed connection
     * whose peer's window stays shut about a minute; short enough that a close to a peer that never reads
     * is over within seconds. (At one second, a reader paused for two got the ring's 256 KiB and a reset
     * where epoll's got 3.8 MiB and a clean end.) A dead peer ends the wait at once, through its control
     * connection.
     */
    static final long CLOSE_DRAIN_STALL_MILLIS = Long.getLong("io.vsocket.closeDrainStallMillis", 10_000L);

    private final VSocketSocketChannelConfig config;
    /** The hello and the link it picks. */
    private final StreamPath path;
    private final PendingConnect connect = new PendingConnect();
    /** An accepted channel's registration, held while its hello runs (see {@link #registered}). */
    private ChannelPromise pendingRegistration;
    private final StreamReader reader;
    private boolean inputShutdown;
    private boolean outputShutdown;
    /** {@link #closeLinks} ran. */
    private boolean linksClosed;

    public VSocketSocketChannel() {
        super(null, newSocket(), false);
        this.config = new VSocketSocketChannelConfig(this, socket);
        this.path = new StreamPath(this, socket, config);
        this.reader = new StreamReader(this, config, path);
    }

    /**
     * An accepted connection ({@code socket} from {@link NativeSocket#accept()}): active, and registered with
     * the pipeline, once the hello has picked its link.
     */
    VSocketSocketChannel(VSocketServerSocketChannel parent, NativeSocket socket) throws IOException {
        super(parent, socket, false);
        this.config = new VSocketSocketChannelConfig(this, socket);
        this.path = new StreamPath(this, socket, config);
        this.reader = new StreamReader(this, config, path);
        this.local = socket.localAddress();
        // As accept(2) gave it, as epoll's does: getpeername(2) fails on a connection the peer reset while
        // it waited to be accepted, and the failure went to the server's pipeline, whose acceptor then
        // stopped accepting for a second (helper-47's probe: 20 such connections held off an echo 20 s).
        // Accepted, such a channel meets the reset on its first read, as on epoll.
        this.remote = socket.acceptedFrom();
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
     * connect and a server's accepted channel both complete after the hello — or at once over tcp for
     * a client whose link is an upgrade to come); null before.
     */
    public VSocketLink link() {
        ConnectionLink c = path.link();
        return c != null ? c.kind() : null;
    }

    /**
     * The link this connection ran on before that link's path failed and its stream went on over
     * tcp (then {@link #link()} says tcp), or null: it never did.
     */
    public VSocketLink failedOverFrom() {
        ConnectionLink c = path.link();
        return c != null ? c.failedOverFrom() : null;
    }

    /**
     * Bytes the rdma link has sent straight from the application's buffers, without copying them
     * (buffers of the {@link io.vsocket.buffer.RegisteredAllocator}); 0 on other links and once
     * closed. A metric: read it on the channel's event loop for an exact figure.
     */
    public long bytesSentInPlace() {
        ConnectionLink c = path.link();
        return c != null ? c.bytesSentInPlace() : 0;
    }

    /**
     * Bytes this channel handed to its pipeline as they lay in the shm link's receive ring, without
     * a copy ({@link VSocketChannelOption#RECEIVE_IN_PLACE}); 0 on other links.
     */
    public long bytesReceivedInPlace() {
        ConnectionLink c = path.link();
        return c != null ? c.bytesReceivedInPlace() : 0;
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
        return outputShutdown || streamUnsafe().outputShutdownHeld() || !isOpen();
    }

    @Override
    public boolean isShutdown() {
        return inputShutdown && isOutputShutdown() || !isOpen();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        onLoop(() -> shutdownOutputNow(promise));
        return promise;
    }

    void shutdownOutputNow(ChannelPromise promise) {
        if (!path.holdOutputShutdown(promise) && !streamUnsafe().holdShutdownForWrites(promise)) {
            ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
        }
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        onLoop(() -> shutdownInput0(promise));
        return promise;
    }

    private void shutdownInput0(ChannelPromise promise) {
        try {
            ensureConnected();
            shutdownInputState();
            stopReading();
            promise.setSuccess();
            eventLoop().execute(reader::inputShutHere);
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

    void shutdownInputState() throws IOException {
        path.shutdownInput();
        inputShutdown = true;
    }

    /** Shut by the application, or by the end of stream with half-closure (open or not). */
    boolean inputShut() {
        return inputShutdown;
    }

    @Override
    protected void doShutdownOutput() throws Exception {
        ensureConnected();
        path.shutdownOutput();
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

    /**
     * The peer's address as the kernel gives it, under the host name the application connected to, as
     * epoll's {@code remoteAddress()} keeps it ({@code localhost/127.0.0.1:6379}): a Host header, an SNI
     * name or a log line taken from it names what was asked for; a literal asked is the name too
     * ({@code 127.0.0.1/127.0.0.1:6379}), as there (helper-79's probe saw {@code /127.0.0.1:6379} in Lettuce's log).
     */
    static InetSocketAddress namedAsAsked(InetSocketAddress asked, InetSocketAddress peer) {
        if (asked == null || peer == null || asked.isUnresolved() || asked.getAddress() == null) {
            return peer;
        }
        String name = asked.getHostString();
        InetAddress ip = peer.getAddress();
        if (!asked.getAddress().equals(ip)) {
            return peer;
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(name, ip.getAddress()), peer.getPort());
        } catch (UnknownHostException e) {
            return peer; // (not for an address of a valid length)
        }
    }

    /** Starts the connection: true when it completed at once. */
    private boolean doConnect(InetSocketAddress remoteAddress, SocketAddress localAddress) throws Exception {
        if (localAddress != null) {
            doBind(localAddress);
        }
        // On this host the handshake is done when connect returns: go on at once, not a turn later, so the
        // first bytes (and the marker, where the SYN carried none) reach the server before its loop wakes
        // to accept; the peer's address, if established, is tcpConnected's (no second getpeername).
        path.beforeConnect(remoteAddress);
        boolean connected = socket.connect(remoteAddress) || (remote = socket.peerIfEstablished()) != null;
        if (!connected) {
            setFlag(VSocketIoOps.OUT);
        }
        return connected;
    }

    /**
     * An accepted channel starts its side of the hello as soon as its descriptor is registered, and
     * completes its registration (the pipeline's first events) once the link is known or the hello
     * failed; a client completes it at once.
     */
    @Override
    void registered(ChannelPromise promise) {
        if (parent() != null && isOpen() && path.link() == null) {
            pendingRegistration = promise;
            path.startServer();
        } else {
            promise.setSuccess();
        }
    }

    /** Completes a registration the hello held (see {@link #registered}); the pipeline's events run now. */
    private void completeRegistration() {
        ChannelPromise promise = pendingRegistration;
        if (promise != null) {
            pendingRegistration = null;
            promise.setSuccess();
        }
    }

    /** What the links the hello makes for this channel call back. */
    NegotiationHost linkHost() {
        return path;
    }

    /**
     * The path has its link, started: the pending connect completes, or an accepted channel becomes
     * active and completes its registration (its pipeline is initialised, registered and active now),
     * or a channel neither connecting nor accepted (one a test joins to a link by hand) becomes
     * active. True when none was due: a client already active took a late offer.
     */
    boolean pathEstablished() {
        ChannelPromise promise = connect.take();
        if (promise != null) {
            streamUnsafe().fulfillConnect(promise);
        } else if (!active) {
            active = true;
            if (pendingRegistration != null) {
                completeRegistration(); // handlerAdded, channelRegistered, channelActive (and its read)
            } else {
                pipeline().fireChannelActive();
            }
            if (isOpen()) {
                streamUnsafe().flushNow(); // what was written before the link was known
            }
        } else {
            return true;
        }
        return false;
    }

    void negotiationFailed(Throwable cause) {
        ChannelPromise promise = connect.take();
        if (promise != null) {
            promise.tryFailure(cause);
        } else {
            completeRegistration(); // the pipeline, initialised but never active, learns why it closes
            pipeline().fireExceptionCaught(cause);
        }
        unsafe().close(unsafe().voidPromise());
    }

    /** The link's own account of itself (tests and diagnostics: where a stalled stream stands). */
    String linkState() {
        ConnectionLink c = path.link();
        ChannelOutboundBuffer out = unsafe().outboundBuffer();
        return c + ", writable " + isWritable() + ", " + (out == null ? 0 : out.totalPendingWriteBytes()) + " bytes pending";
    }

    /** The unsafe, for the path: the read loop, the flush and the socket's readiness as the channel handles them. */
    VSocketUnsafe streamUnsafe() {
        return (VSocketUnsafe) unsafe();
    }

    /** The path (its hello, its link) and a pending connect: on the loop, once (see {@link VSocketUnsafe#prepareToClose}). */
    private void closeLinks() {
        if (!linksClosed) {
            try {
                path.close();
            } finally {
                connect.close();
            }
            linksClosed = true; // (not when a close threw: the close on the loop tries again, and reports it)
        }
    }

    @Override
    protected void doDisconnect() throws Exception {
        doClose();
    }

    @Override
    protected void doClose() throws Exception {
        ChannelPromise registration = pendingRegistration;
        pendingRegistration = null;
        try {
            closeLinks();
        } finally {
            super.doClose();
            if (registration != null) {
                // Closed during its hello (its loop shutting down, a group closing it): the pipeline never
                // saw it. Netty's close does not deregister a channel it never saw registered, so the loop's
                // registration goes here; then the registration fails (its listeners close it again: a no-op).
                doDeregister();
                registration.tryFailure(new ClosedChannelException());
            }
        }
    }

    @Override
    boolean leaveLoop() {
        // (A close that waits for the ring stays on its loop: its watch runs there.)
        return !connect.isPending() && pendingRegistration == null && !streamUnsafe().closing() && path.leaveLoop();
    }

    @Override
    void loopJoined() {
        path.loopJoined();
    }

    @Override
    String whyPinned() {
        return path.whyPinned(connect.isPending() || pendingRegistration != null);
    }

    @Override
    void stopReading() {
        path.stopReading();
    }

    @Override
    protected void doBeginRead() {
        if (streamUnsafe().closing()) {
            return; // closed by the application, its last writes going into the ring: nothing more is read
        }
        streamUnsafe().readPending = true;
        // Before the end; or half-closed, for the one more read that reports all was read.
        path.beginRead(reader.mayRead());
    }

    /**
     * Not writable while a close or an output shut-down waits for the ring to take the last writes: the
     * channel takes nothing new then (see {@link #filterOutboundMessage}), as epoll's after either, whose
     * outbound buffer is gone. Said writable, a handler that writes for as long as it may (on
     * {@code channelWritabilityChanged}) met a write that failed at once, again and again, and held the
     * loop for good: the close's wait never ended (helper-64's probe).
     */
    @Override
    public boolean isWritable() {
        return !takesNoWrites() && super.isWritable();
    }

    @Override
    public long bytesBeforeUnwritable() {
        return takesNoWrites() ? 0 : super.bytesBeforeUnwritable();
    }

    @Override
    public long bytesBeforeWritable() {
        return takesNoWrites() ? Long.MAX_VALUE : super.bytesBeforeWritable();
    }

    private boolean takesNoWrites() {
        VSocketUnsafe unsafe = streamUnsafe();
        return unsafe.closing() || unsafe.outputShutdownHeld();
    }

    @Override
    protected Object filterOutboundMessage(Object msg) throws IOException {
        if (streamUnsafe().closing()) {
            // Closed by the application, its last writes going into the ring: nothing new goes, as
            // after a close on epoll (Netty fails the write and releases the message).
            throw new ClosedChannelException();
        }
        if (streamUnsafe().outputShutdownHeld()) {
            // The application shut the output: nothing new goes after it (as on epoll), though the
            // shut-down itself waits for the ring to take what was flushed before it.
            ClosedChannelException closed = new ClosedChannelException();
            closed.initCause(new ChannelOutputShutdownException("Channel output shutdown"));
            throw closed;
        }
        if (msg instanceof ByteBuf buf) {
            // One writev takes at most IOV_MAX pieces: a direct composite of more is copied whole.
            int parts = buf.nioBufferCount();
            return buf.isDirect() && parts > 0 && parts <= IovArray.MAX ? buf : DirectCopy.of(alloc(), buf);
        }
        if (msg instanceof FileRegion) {
            // Written as it is, on every link (see FileRegionWriter), as Netty's epoll transport takes it.
            return msg;
        }
        throw new UnsupportedOperationException("unsupported message type: " + msg.getClass().getName()
                + " (expected ByteBuf, FileRegion)");
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        path.write(in);
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new VSocketUnsafe();
    }

    final class VSocketUnsafe extends AbstractVSocketUnsafe {
        /**
         * A close waiting for the ring to take the flushed writes (see {@link #close(ChannelPromise)}):
         * its promise, or null.
         */
        private volatile ChannelPromise closeAfterWrites; // (isWritable() reads it on any thread)
        /**
         * The application shut the output while flushed writes waited for the ring (see {@link
         * #holdShutdownForWrites}): for it the output is shut from then on; and whether the end still
         * waits behind those writes.
         */
        private volatile boolean shutdownRequested; // (isWritable() reads it on any thread)
        private boolean shutdownPending;
        /** The bytes still pending, and the first write's progress, at the last look of the drain's watch. */
        private long drainPending;
        private long drainProgress;

        /**
         * A close with flushed writes the ring could not take yet, over a ring link whose peer is there,
         * first lets the ring take them, as a socket's close leaves its send buffer to the kernel: the
         * peer reads them, then the end. (Without it, an application that writes a large response and
         * closes at once, not waiting for the write, cut its peer off after the ring's 256 KiB with a
         * clean end, where epoll's kernel took several MiB on.) Meanwhile the channel reads nothing and
         * takes no new writes; the close completes once the writes are in the ring, or the link fails,
         * or the peer takes nothing for {@link #CLOSE_DRAIN_STALL_MILLIS} — then the rest is dropped and
         * the link ends with a reset, so the peer cannot take the cut-off stream for a whole one. However
         * much is flushed (epoll's kernel takes some MiB; what a peer reads at all is better delivered
         * than dropped); not with {@code SO_LINGER} set (0 asks for a reset, more for epoll's lingering
         * close), nor while the loop shuts down. A second close from the pipeline joins this one; the
         * link's failure or the loop's end closes at once ({@link #closeNow()}).
         */
        @Override
        public void close(ChannelPromise promise) {
            if (closeAfterWrites != null) {
                // Closed again meanwhile from the pipeline (a handler's close beside a group's, a listener
                // that closes on a failed write): the same close, as on epoll, where both are over at once
                // and the kernel still delivers.
                closeFuture().addListener(f -> promise.trySuccess());
                return;
            }
            if (!promise.setUncancellable()) {
                return; // cancelled: no close, as in Netty's own (nor a reset set up for one)
            }
            if (takesWritesBeforeClose()) {
                closeAfterWrites = promise;
                drainPending = outboundBuffer().totalPendingWriteBytes();
                drainProgress = outboundBuffer().currentProgress();
                path.stopReading();
                // However the channel ends meanwhile (a write that failed closes it through Netty's own
                // path), the close's promise completes with it.
                closeFuture().addListener(f -> closeWaitEnded());
                eventLoop().schedule(this::watchCloseDrain, CLOSE_DRAIN_STALL_MILLIS, TimeUnit.MILLISECONDS);
                return;
            }
            // A close that cannot wait (the loop shuts down: a process that closes its channels and then its
            // group, without waiting for the close): what the ring could not take is dropped, and, without
            // SO_LINGER set (an explicit choice), the peer must not read the cut stream as whole. Until
            // 2026-12-06 such a close ended it cleanly (helper-53's probe: 4 of 8 runs).
            closeDroppingWrites(promise, false);
        }

        /**
         * Closes now, a close that waits for the ring or not: the link failed, or the loop ends. What the
         * ring could not take yet is dropped, and the link ends with a reset so the peer knows.
         */
        void closeNow() {
            closeDroppingWrites(voidPromise(), true);
        }

        /**
         * Closes at once: a live ring link that could not take every flushed write yet ends with a reset,
         * unless {@code SO_LINGER} is set and not {@code evenWithLinger}.
         */
        private void closeDroppingWrites(ChannelPromise promise, boolean evenWithLinger) {
            ChannelOutboundBuffer out = outboundBuffer();
            if (out != null && out.size() > 0 && path.takesWritesBeforeClose() && (evenWithLinger || lingerUnset())) {
                // (Writes a live ring link could not take yet are dropped: the peer must know.)
                RingConnectionLink.makeCloseAbortive(socket, VSocketSocketChannel.this);
            }
            super.close(promise);
        }

        @Override
        public void close() {
            closeNow(); // the loop's end (VSocketIoHandle)
        }

        @Override
        public void closeAfterLoopEnded() throws Exception {
            try {
                super.closeAfterLoopEnded();
            } finally {
                closeWaitEnded();
            }
        }

        /** A close that waited for the ring is the one that ends now, dropping what the ring did not take (with a reset). */
        @Override
        void closeAsLoopEnded() {
            ChannelPromise waiting = closeAfterWrites;
            closeAfterWrites = null;
            closeDroppingWrites(waiting != null ? waiting : voidPromise(), true);
        }

        /**
         * The channel closed under a close that waited (a failed write closed it through Netty's own path,
         * or the loop ended without Netty's close): that close is done too.
         */
        private void closeWaitEnded() {
            ChannelPromise promise = closeAfterWrites;
            closeAfterWrites = null;
            if (promise != null) {
                promise.trySuccess();
            }
        }

        private boolean takesWritesBeforeClose() {
            return takesWritesBefore() && lingerUnset();
        }

        /** {@code SO_LINGER} is not set (0 asks for a reset, more for epoll's lingering close). */
        private boolean lingerUnset() {
            try {
                return config.getSoLinger() < 0;
            } catch (ChannelException e) {
                return false;
            }
        }

        /**
         * An output shut-down with flushed writes the ring could not take yet, over a ring link whose peer
         * is there, waits for them, as a socket's {@code shutdown(SHUT_WR)} queues its end behind what the
         * kernel holds: the peer reads every byte, then the end. (Without it, {@code writeAndFlush(1 MiB)}
         * and {@code shutdownOutput()} gave the shm peer 256 KiB and a clean end, where epoll's got all of
         * it.) As there, the shut-down is done for the application at once: its promise succeeds, the
         * output counts as shut and new writes fail; the end waits behind the writes as long as the peer
         * reads nothing, as the kernel's does (an application that waited for the shut-down while its peer
         * did not read waited for good before). A close meanwhile waits for the writes as its own.
         */
        boolean holdShutdownForWrites(ChannelPromise promise) {
            if (shutdownRequested) {
                // Shut already: as a second shut-down on epoll, where the outbound buffer is gone.
                promise.tryFailure(new ClosedChannelException());
                return true;
            }
            if (!takesWritesBefore()) {
                return false;
            }
            if (promise.setUncancellable()) {
                shutdownRequested = true;
                shutdownPending = true;
                promise.setSuccess();
            }
            return true;
        }

        /** Flushed writes wait for a ring link whose peer is there (see {@link ConnectionLink#takesWritesBeforeClose()}). */
        private boolean takesWritesBefore() {
            ChannelOutboundBuffer out = outboundBuffer();
            return out != null && out.size() > 0 && isActive() && isRegistered() && !eventLoop().isShuttingDown()
                    && !outputShutdown && path.takesWritesBeforeClose();
        }

        /** An output shut-down waits for the ring to take the writes flushed before it. */
        boolean outputShutdownHeld() {
            return shutdownRequested;
        }

        /**
         * An I/O error that ends the connection (a reset, the peer's death), met while flushed writes wait
         * for room, ends it as epoll's does: its error event flushes before it reads, so the waiting writes
         * fail with the error and the channel closes, without {@code exceptionCaught}. Frameworks read the
         * two apart: Reactor Netty takes a connection closed under a request body it was sending for a
         * premature close, an error caught for an error (helper-78's probe: kill -9 of a server that read
         * no upload gave its {@code PrematureCloseException} on epoll, the raw reset on shm). True when it
         * went so; false where no flushed write waits (the error goes to {@code exceptionCaught}, as
         * epoll's read reports it), for a close under way, behind an output shut-down that waits for the
         * writes (epoll's shut-down fails what its buffer holds at once, and its reads then report the
         * reset), without auto-close (Netty's write error then shuts the output alone, which must not leave
         * the failed link open), and for any error but the connection's end ({@link #connectionGone}): a
         * peer's protocol violation or this side's own failure is a read's error there too.
         */
        boolean failedWhileWriting(Throwable cause) {
            ChannelOutboundBuffer out = outboundBuffer();
            if (!connectionGone(cause) || out == null || out.isEmpty() || closing() || shutdownRequested || !isOpen()
                    || !config.isAutoClose()) {
                return false;
            }
            if (path.takesWritesBeforeClose()) {
                // (As closeNow: writes a live ring link could not take are dropped, and the peer must know.)
                RingConnectionLink.makeCloseAbortive(socket, VSocketSocketChannel.this);
            }
            handleWriteError(cause);
            return true;
        }

        /**
         * Whether {@code cause} says the connection is gone, as a write would learn too: the socket's reset,
         * broken pipe or timeout (its kernel reports the same error to a write as to a read), or a ring
         * link's reset or its peer's death (their messages begin as a socket's reset reads, {@link
         * RingConnectionLink#PEER_DIED}).
         */
        private static boolean connectionGone(Throwable cause) {
            if (cause instanceof NativeIoException e) {
                return e.errno() == LibC.ECONNRESET || e.errno() == LibC.EPIPE || e.errno() == LibC.ETIMEDOUT;
            }
            return cause != null && cause.getClass() == IOException.class && cause.getMessage() != null
                    && cause.getMessage().startsWith(RingConnectionLink.PEER_DIED);
        }

        /** A close waits for the ring to take the flushed writes: the channel reads and takes no more. */
        boolean closing() {
            return closeAfterWrites != null;
        }

        /** The drain's watch: the close goes ahead once the peer took nothing since the last look. */
        private void watchCloseDrain() {
            ChannelPromise promise = closeAfterWrites;
            if (promise == null) {
                return;
            }
            ChannelOutboundBuffer out = outboundBuffer();
            int writes = out == null ? 0 : out.size();
            // Progress: a write done (fewer bytes pending: no new ones can come, see filterOutboundMessage),
            // or more of the first written.
            long pending = writes == 0 ? 0 : out.totalPendingWriteBytes();
            long progress = writes == 0 ? 0 : out.currentProgress();
            if (writes > 0 && isOpen() && (pending < drainPending || pending == drainPending && progress > drainProgress)) {
                drainPending = pending;
                drainProgress = progress;
                eventLoop().schedule(this::watchCloseDrain, CLOSE_DRAIN_STALL_MILLIS, TimeUnit.MILLISECONDS);
                return;
            }
            if (writes > 0) {
                // Bytes the application wrote are dropped: a reset tells the peer, as over TCP.
                RingConnectionLink.makeCloseAbortive(socket, VSocketSocketChannel.this);
            }
            closeAfterWrites = null;
            super.close(promise);
        }

        /**
         * After a flush: once the outbound buffer holds no flushed writes, the shut-down and the close
         * that waited for them go ahead, in that order.
         */
        private void afterFlush() {
            if (!shutdownPending && closeAfterWrites == null) {
                return;
            }
            ChannelOutboundBuffer out = outboundBuffer();
            if (out != null && out.size() > 0) {
                return;
            }
            if (shutdownPending) {
                shutdownPending = false;
                // Not where the channel closed meanwhile (a failed write closed it: nothing to shut, and
                // nothing to report), nor where a failed write shut the output already (AUTO_CLOSE off).
                if (isOpen() && out != null && !outputShutdown) {
                    // Its promise succeeded when the application asked; a failure now goes to the pipeline
                    // (the channel's void promise fires exceptionCaught, the unsafe's would not).
                    shutdownOutput(VSocketSocketChannel.this.voidPromise());
                }
            }
            ChannelPromise promise = closeAfterWrites;
            if (promise != null) {
                closeAfterWrites = null;
                super.close(promise);
            }
        }

        /**
         * As epoll's: a close that {@code SO_LINGER} may hold (bytes unsent to a peer that does not
         * read) runs off the loop, which it would block for the linger time. The links, their timers
         * and the descriptor's place in the epoll set are let go here, on the loop; only the socket's
         * close(2) runs elsewhere, and the close completes when it returns.
         */
        @Override
        protected Executor prepareToClose() {
            boolean lingers;
            try {
                lingers = isOpen() && isRegistered() && pendingRegistration == null && !eventLoop().isShuttingDown()
                        && config.getSoLinger() > 0;
            } catch (ChannelException e) {
                return null; // the option could not be read (the socket is going): close as usual, on the loop
            }
            if (!lingers) {
                return null;
            }
            try {
                closeLinks();
            } catch (RuntimeException e) {
                return null; // closed on the loop then, where the close reports what failed
            }
            leaveEpollSet();
            return GlobalEventExecutor.INSTANCE;
        }

        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            // Left cancellable, as NIO's and epoll's: a non-blocking connect can be given up (the pending
            // connect's listener closes the channel), where an uncancellable one ran to its timeout.
            if (promise.isDone() || !ensureOpen(promise)) {
                return;
            }
            try {
                if (connect.isPending()) {
                    throw new ConnectionPendingException();
                }
                if (active) {
                    throw new AlreadyConnectedException();
                }
                InetSocketAddress target = (InetSocketAddress) remoteAddress;
                connect.start(promise, target);
                if (doConnect(target, localAddress)) {
                    tcpConnected();
                    if (!connect.isPending()) {
                        return;
                    }
                }
                connect.bound(eventLoop(), config.getConnectTimeoutMillis(), () -> close(voidPromise()));
            } catch (Throwable t) {
                path.connectFailed();
                promise.tryFailure(annotateConnectException(t, remoteAddress));
                closeIfClosed();
            }
        }

        /** The TCP connection is up: the hello starts (see {@link StreamPath#startClient()}). */
        private void tcpConnected() throws IOException {
            local = socket.localAddress();
            remote = namedAsAsked(connect.remote(), remote != null ? remote : socket.remoteAddress());
            path.startClient();
        }

        void fulfillConnect(ChannelPromise promise) {
            active = true;
            // Read before completing the promise: a listener may close the channel at once, and
            // channelActive must still come before channelInactive.
            boolean activeNow = isActive();
            boolean promiseSet = promise.trySuccess();
            if (activeNow) {
                pipeline().fireChannelActive();
            }
            if (!promiseSet) {
                close(voidPromise());
            }
        }

        private void finishConnect() {
            InetSocketAddress target = connect.remote();
            try {
                if (socket.finishConnect(target)) {
                    clearFlag(VSocketIoOps.OUT);
                    tcpConnected();
                }
            } catch (Throwable t) {
                ChannelPromise promise = connect.take();
                if (promise != null) {
                    promise.tryFailure(annotateConnectException(t, target));
                }
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
            if (!path.socketReady((VSocketIoEvent) event)) {
                super.handle(registration, event);
            }
        }

        /** The socket's readiness handled as every vsocket channel does (the tcp link's data path). */
        void socketReadyForChannel(VSocketIoEvent event) {
            super.handle(null, event);
        }

        @Override
        void outReady() {
            if (connect.isPending()) {
                finishConnect();
            } else if (!outputShutdown || outboundBuffer() != null) {
                super.flush0();
                afterFlush();
            }
        }

        /** Writes what the outbound buffer holds now (unless waiting for writability, see flush0). */
        void flushNow() {
            super.flush0();
            afterFlush();
        }

        @Override
        protected void flush0() {
            if (path.link() == null && parent() != null && isOpen()) {
                // An accepted channel whose hello is not done yet (its pipeline is not initialised till
                // then, but a handler of the server channel that took it may write): the writes wait
                // for the link, not fail.
                return;
            }
            // While waiting for writability the loop will flush on EPOLLOUT; writing now would only spin.
            if (!isFlagSet(VSocketIoOps.OUT)) {
                super.flush0();
                afterFlush();
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
                readToEnd();
                if (isOpen() && inputShutdown) {
                    inReady();
                }
            }
            clearFlag(VSocketIoOps.RDHUP);
        }

        @Override
        void inReady() {
            reader.read(this, false);
        }

        /** Reads on to the end of stream, auto-read or not: the peer's end came (epoll's hang-up read). */
        void readToEnd() {
            reader.read(this, true);
        }
    }
}
