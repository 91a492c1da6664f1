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
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.link.rdma.RdmaLink;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;
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
 * speak vsocket). shm and rdma carry the same ring protocol ({@link StreamLink}); on both the TCP
 * connection stays open as the control channel: it tells when the peer closes or dies. A client's connect completes
 * once the link is known, and a server's accepted channel becomes active then too (as an SMC
 * socket's connect and accept complete after its CLC handshake).
 *
 * <p>It writes {@link ByteBuf}s and {@link FileRegion}s, mixed in any order, on every link, as
 * Netty's epoll channel does; how a region's bytes travel on each link is {@link FileRegionWriter}'s
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
    /** Null until the hello has picked the link. */
    private volatile VSocketLink link;
    /** Bytes that arrived with the hello but belong to the application (a plain peer spoke first). */
    private ByteBuf pendingInbound;
    /** A client that gave up on the hello: its first inbound bytes may be a late offer to drop. */
    private LinkNegotiation lateHello;
    private boolean inboundTaskPending;

    /** The ring link (shm or rdma); null on tcp. */
    private StreamLink stream;
    private ShmLink shm;
    private RdmaLink rdma;
    private final ShmPoller shmPoller = new ShmPoller();
    private final RdmaListener rdmaListener = new RdmaListener();
    private IoRegistration doorbellRegistration;
    private boolean streamReadInterest;
    private boolean waitingForCredit;
    private boolean streamTaskPending;
    private Future<?> idleRelease;
    private int shmWritesSinceIdleCheck;
    /** The peer's end of output has been seen and reported (a ring link's hang-up). */
    private boolean peerEndSeen;
    /** The control connection ended: the peer closed (cleanly, or it would have been cut off). */
    private boolean peerClosed;

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
        return link;
    }

    /**
     * Bytes the rdma link has sent straight from the application's buffers, without copying them
     * (buffers of the {@link io.vsocket.buffer.RegisteredAllocator}); 0 on other links and once
     * closed. A metric: read it on the channel's event loop for an exact figure.
     */
    public long bytesSentInPlace() {
        RdmaLink l = rdma;
        return l != null ? l.inPlaceBytes() : 0;
    }

    /**
     * Bytes this channel handed to its pipeline as they lay in the shm link's receive ring, without
     * a copy ({@link VSocketChannelOption#RECEIVE_IN_PLACE}); 0 on other links.
     */
    public long bytesReceivedInPlace() {
        ShmLink l = shm;
        return l != null ? l.bytesLent() : 0;
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

    /**
     * Input is shut: on tcp the socket's read side; on a ring link only this channel's view, since
     * the control connection must still report the peer's close (and ring bytes that still come are
     * read and dropped, so the peer never stalls on credit).
     */
    private void shutdownInputState() throws IOException {
        if (stream == null) {
            socket.shutdown(true, false);
            clearFlag(VSocketIoOps.RDHUP);
        }
        inputShutdown = true;
    }

    @Override
    protected void doShutdownOutput() throws Exception {
        ensureConnected();
        if (stream != null) {
            stream.markOutputDone();
        } else {
            socket.shutdown(false, true);
        }
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
        if (parent() != null && negotiation == null && link == null && isOpen()) {
            negotiation = new LinkNegotiation(this, socket, config);
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

    /** The hello picked {@code link}: move the data path onto it. */
    void linkEstablished(VSocketLink chosen, StreamLink streamLink, ByteBuf leftover) {
        negotiation = null;
        link = chosen;
        pendingInbound = leftover;
        clearFlag(VSocketIoOps.PRI);
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        boolean reading = unsafe.readPending || config.isAutoRead();
        if (!isOpen()) {
            if (streamLink != null) {
                streamLink.close();
            }
            return;
        }
        if (chosen == VSocketLink.RDMA) {
            stream = rdma = (RdmaLink) streamLink;
            streamReadInterest = reading;
            setFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
            rdma.listener(rdmaListener);
            if (reading) {
                // Bytes may have come with the peer's first message: no completion will tell of them again.
                streamReadyLater();
            }
        } else if (chosen == VSocketLink.SHM) {
            stream = shm = (ShmLink) streamLink;
            shm.lendOn(eventLoop());
            streamReadInterest = reading;
            setFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
            ioHandler().addPoller(shmPoller);
            idleRelease = eventLoop().scheduleWithFixedDelay(this::releaseIdleShm, VSocketLinks.IDLE_RELEASE_MILLIS,
                    VSocketLinks.IDLE_RELEASE_MILLIS, TimeUnit.MILLISECONDS);
            Doorbell doorbell = new Doorbell();
            ((IoEventLoop) eventLoop()).register(doorbell).addListener(f -> {
                if (f.isSuccess()) {
                    IoRegistration r = (IoRegistration) f.getNow();
                    if (shm == null) {
                        r.cancel();
                    } else {
                        doorbellRegistration = r;
                        r.submit(VSocketIoOps.of(VSocketIoOps.IN));
                    }
                } else {
                    pipeline().fireExceptionCaught(f.cause());
                    unsafe.close(unsafe.voidPromise());
                }
            });
        } else if (!reading) {
            clearFlag(VSocketIoOps.IN);
        }
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

    /** The client gave up on the hello and goes on over tcp, watching for a late offer. */
    void linkEstablishedWatchingLateHello(LinkNegotiation watch) {
        lateHello = watch;
        linkEstablished(VSocketLink.TCP, null, null);
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
            closeStream();
            if (regionWriter != null) {
                regionWriter.close();
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

    /** Once per idle period: a connection that wrote nothing in it gives its ring's pages back. */
    private void releaseIdleShm() {
        ShmLink l = shm;
        if (l == null) {
            return;
        }
        if (shmWritesSinceIdleCheck == 0 && !waitingForCredit) {
            try {
                l.releaseIdleRing();
            } catch (IOException e) {
                logger.debug("{}: could not release the idle ring's pages", this, e);
            }
        }
        shmWritesSinceIdleCheck = 0;
    }

    /**
     * Ends the ring link: tells the peer this is a clean close (unless {@code SO_LINGER} is 0, which
     * asks for an abortive close: then the peer sees the reset, as over TCP), then lets go of the
     * shared memory or the queue pair.
     */
    private void closeStream() {
        StreamLink s = stream;
        if (s == null) {
            return;
        }
        stream = null;
        if (s == rdma) {
            rdma = null;
            endRdma((RdmaLink) s);
            return;
        }
        ShmLink l = shm;
        shm = null;
        if (idleRelease != null) {
            idleRelease.cancel(false);
            idleRelease = null;
        }
        if (!closeIsAbortive()) {
            l.markOutputDone();
        }
        l.markClosed();
        IoRegistration r = doorbellRegistration;
        doorbellRegistration = null;
        if (r != null) {
            r.cancel();
        }
        if (isRegistered() && eventLoop().inEventLoop()) {
            ioHandler().removePoller(shmPoller);
        }
        l.close();
    }

    /** {@code SO_LINGER} 0 asks for an abortive close: the peer then sees a reset, as over TCP. */
    private boolean closeIsAbortive() {
        try {
            return socket.isOpen() && socket.getLinger() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Ends and closes an rdma link of this channel (its own, or one the hello set up): the peer gets
     * the end of output, or a reset for an abortive close; the queue pair stays, without holding up
     * the loop, until that reaches the peer, and at most {@link VSocketLinks#RDMA_LINGER_MILLIS}.
     */
    void endRdma(RdmaLink l) {
        if (closeIsAbortive()) {
            l.abort();
        } else {
            try {
                l.markOutputDone();
            } catch (IOException e) {
                logger.debug("{}: could not send the end of output", this, e);
            }
        }
        l.close();
        if (!l.lingering()) {
            return;
        }
        try {
            eventLoop().schedule(l::expireLinger, VSocketLinks.RDMA_LINGER_MILLIS, TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) {
            // The loop is shutting down (it destroys its links itself then), or never was: go now.
            l.expireLinger();
        }
    }

    @Override
    void stopReading() {
        if (stream != null) {
            streamReadInterest = false;
        } else if (negotiation == null) {
            clearFlag(VSocketIoOps.IN);
        }
    }

    @Override
    protected void doBeginRead() {
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        unsafe.readPending = true;
        if (negotiation != null || link == null) {
            // The hello reads for itself; reading for the application starts once the link is known.
            return;
        }
        if (stream != null) {
            if (!inputShutdown || !inputClosedSeenErrorOnRead && config.isAllowHalfClosure()) {
                streamReadInterest = true;
                if (rdma != null) {
                    // No poller looks at an rdma link between its completions: look once now.
                    streamReadyLater();
                }
            }
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
        if (!inputShutdown) {
            setFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        } else if (!inputClosedSeenErrorOnRead && config.isAllowHalfClosure()) {
            // Half-closed: one more read reports that everything has been read.
            setFlag(VSocketIoOps.IN);
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
        if (link == null) {
            // The hello is under way: the writes wait in the outbound buffer for the link.
            return;
        }
        if (stream != null) {
            writeStream(in);
            return;
        }
        int spin = config.getWriteSpinCount();
        while (spin > 0) {
            Object msg = in.current();
            if (msg == null) {
                clearFlag(VSocketIoOps.OUT);
                return;
            }
            if (msg instanceof FileRegion region) {
                int status = writeRegion(in, null, region);
                if (status < 0) {
                    // The socket buffer is full: wait for writability.
                    setFlag(VSocketIoOps.OUT);
                    return;
                }
                spin -= status;
                continue;
            }
            long written;
            long attempted;
            if (in.size() == 1) {
                ByteBuf buf = (ByteBuf) msg;
                attempted = buf.readableBytes();
                if (attempted == 0) {
                    in.remove();
                    continue;
                }
                written = writeBuffer(buf);
            } else {
                // Gathers the buffers at the head, up to a FileRegion if one follows.
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
            spin--;
        }
        // Spun out with data left: let other channels run, then continue from a task. Writability
        // interest goes, or a level-triggered EPOLLOUT would wake the loop on every turn from now on.
        clearFlag(VSocketIoOps.OUT);
        eventLoop().execute(((VSocketUnsafe) unsafe())::flushLater);
    }

    /**
     * Writes the next bytes of the region at the head, as Netty's epoll transport does: to the
     * socket ({@code ring} null, the tcp link), or into the ring, publishing them before progress is
     * reported (a listener may close the channel at once). A region already done (count 0 included)
     * is removed at once; bytes written count as progress, and the region goes when
     * {@code transferred() >= count()}. Returns 0 when nothing was written (the region was done), 1
     * when bytes went out, -1 when the socket or link took none (wait for writability or credit, as
     * for a buffer) — or, on a ring, took some and then no more.
     */
    private int writeRegion(ChannelOutboundBuffer in, StreamLink ring, FileRegion region) throws IOException {
        long count = region.count();
        if (region.transferred() >= count) {
            regionDone(in, region);
            return 0;
        }
        FileRegionWriter w = regionWriter();
        long n = ring != null ? w.toRing(ring, region) : w.toSocket(region);
        if (n > 0) {
            if (ring != null) {
                shmWritesSinceIdleCheck++;
                ring.publish();
            }
            in.progress(n);
            if (region.transferred() >= count) {
                regionDone(in, region);
                return 1;
            }
            return ring != null && w.blocked() ? -1 : 1;
        }
        if (!w.blocked()) {
            throw noProgress(region);
        }
        return -1;
    }

    private FileRegionWriter regionWriter;

    /** Made on the first region: most channels never write one. */
    private FileRegionWriter regionWriter() {
        FileRegionWriter w = regionWriter;
        if (w == null) {
            w = regionWriter = new FileRegionWriter(socket, config);
        }
        return w;
    }

    private void regionDone(ChannelOutboundBuffer in, FileRegion region) {
        if (regionWriter != null) {
            regionWriter.regionDone(region);
        }
        in.remove();
    }

    /**
     * A region whose {@code transferTo} wrote nothing although the link could take bytes: nothing
     * would ever wake this channel for it (its source has no readiness to wait for), and trying
     * again at once would spin the loop. Epoll waits for writability, which a writable socket
     * reports at once, forever; vsocket fails the write instead.
     */
    private static IOException noProgress(FileRegion region) {
        return new IOException(region.getClass().getName() + " made no progress: it wrote nothing though the channel "
                + "could take more (" + region.transferred() + " of " + region.count() + " bytes transferred)");
    }

    /**
     * Copies flushed buffers into the peer's ring as far as credit goes and publishes them once: one
     * cursor store (and at most one doorbell) per flush on shm, one chain of posted writes on rdma,
     * however many buffers it gathered. A {@link FileRegion} among them ends that run: its bytes go
     * into the ring on their own (read from the file straight into ring memory, or copied from the
     * buffers the region writes), published before its progress is reported. Without credit the
     * rest waits in the outbound buffer, whose water marks flip writability as usual.
     */
    private void writeStream(ChannelOutboundBuffer in) throws Exception {
        StreamLink l = stream;
        if (rdma != null) {
            // Completions that came while the loop was busy elsewhere (a reset, credit) count now.
            rdma.pollCompletions();
        }
        if (l.failure() != null) {
            throw l.failure();
        }
        if (peerClosed || shm != null && shm.peerClosed() || rdma != null && rdma.peerReset()) {
            throw new IOException("Connection reset by peer: the " + link.name().toLowerCase() + " link's peer has "
                    + "closed, " + in.size() + " buffers cannot be sent");
        }
        int spin = config.getWriteSpinCount();
        boolean blocked = false;
        Object msg;
        while ((msg = in.current()) != null) {
            if (msg instanceof FileRegion region) {
                if (spin == 0) {
                    break;
                }
                int status = writeRegion(in, l, region);
                if (status < 0) {
                    blocked = true;
                    break;
                }
                spin -= status;
            } else if (!writeBuffers(in, l)) {
                blocked = true;
                break;
            }
            if (stream != l) {
                return; // a listener closed the channel
            }
        }
        if (msg != null && !blocked) {
            // Spun out on regions that did not end with credit left (one whose transferTo writes a
            // little at a time): let other channels run, then go on from a task.
            waitingForCredit = false;
            eventLoop().execute(((VSocketUnsafe) unsafe())::flushLater);
        } else {
            waitingForCredit = blocked && in.current() != null;
        }
    }

    /**
     * Copies the buffers at the head into the ring (up to a {@link FileRegion}, if one follows) and
     * publishes them; false when credit ran out before they did.
     */
    private boolean writeBuffers(ChannelOutboundBuffer in, StreamLink l) throws Exception {
        RingGather gather = ringGather;
        gather.start(l, l.credit());
        in.forEachFlushedMessage(gather);
        if (gather.written > 0) {
            shmWritesSinceIdleCheck++;
            // Publish before completing any promise: a listener may close the channel at once.
            l.publish();
            in.removeBytes(gather.written);
        }
        // Empty buffers at the head (no credit, or only empty ones before a region): drop them.
        while (in.current() instanceof ByteBuf b && !b.isReadable()) {
            in.remove();
        }
        return !gather.full;
    }

    private final RingGather ringGather = new RingGather();

    /**
     * Copies flushed buffers into the ring until credit runs out or a {@link FileRegion} comes;
     * one per channel, reused.
     */
    private static final class RingGather implements ChannelOutboundBuffer.MessageProcessor {
        private StreamLink link;
        private int credit;
        long written;
        /** Stopped at a buffer for want of credit (not at a region or the end). */
        boolean full;

        void start(StreamLink link, int credit) {
            this.link = link;
            this.credit = credit;
            this.written = 0;
            this.full = false;
        }

        @Override
        public boolean processMessage(Object msg) throws IOException {
            if (!(msg instanceof ByteBuf buf)) {
                return false; // a FileRegion: it goes on its own
            }
            int readable = buf.readableBytes();
            int n = link.write(buf, buf.readerIndex(), Math.min(readable, credit));
            credit -= n;
            written += n;
            if (n == readable && credit > 0) {
                return true;
            }
            full = true;
            return false;
        }
    }

    private long writeBuffer(ByteBuf buf) throws IOException {
        int length = buf.readableBytes();
        long address = BufferAddress.of(buf, buf.readerIndex(), length);
        if (address != 0) {
            return socket.write(address, length);
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
                linkEstablished(VSocketLink.TCP, null, null);
                return;
            }
            negotiation = new LinkNegotiation(VSocketSocketChannel.this, socket, config);
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
            if (negotiation != null) {
                negotiation.ready();
            } else if (stream != null) {
                controlReady();
            } else {
                super.handle(registration, event);
            }
        }

        /**
         * The control connection of a ring link is readable: nothing but its end may come. An end
         * without the peer's end of output means its process died (the kernel closed its socket) or
         * it broke the protocol: the stream is cut, and the channel closes with an error. On rdma the
         * end travels on the queue pair, a path apart from TCP's: it may still be on its way, so it
         * gets a grace period before the peer is declared dead.
         */
        private void controlReady() {
            int n;
            try {
                n = socket.read(Scratch.address(), 64);
            } catch (IOException e) {
                pipeline().fireExceptionCaught(e);
                close(voidPromise());
                return;
            }
            if (n > 0) {
                pipeline().fireExceptionCaught(new RingProtocolException("the peer sent " + n
                        + " bytes on the control connection of " + link.name().toLowerCase() + " link"));
                close(voidPromise());
            } else if (n == NativeSocket.EOF) {
                clearFlag(VSocketIoOps.IN | VSocketIoOps.RDHUP);
                peerClosed = true;
                if (!stream.peerOutputDone()) {
                    if (rdma != null) {
                        eventLoop().schedule(this::peerEndOverdue, config.getHelloTimeoutMillis(),
                                TimeUnit.MILLISECONDS);
                        return;
                    }
                    peerDied();
                    return;
                }
                if (waitingForCredit) {
                    // Credit will never come: fail the pending writes now.
                    flushLater();
                }
                // The rest of the ring and the end of input are reported by the poller's hang-up
                // (the peer's end mark is set, so the loop does not block before it runs).
            }
        }

        private void peerEndOverdue() {
            if (stream != null && isOpen() && !stream.peerOutputDone()) {
                peerDied();
            }
        }

        private void peerDied() {
            pipeline().fireExceptionCaught(new IOException("the peer's end of the " + link.name().toLowerCase()
                    + " link closed without ending its stream: its process died or it dropped the connection"));
            close(voidPromise());
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
            if (link == null && parent() != null && isOpen()) {
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
         * The next unread bytes of the shm ring as they lie (no copy), when the option allows and
         * there are enough of them in one stretch; else null.
         */
        private ByteBuf lendFromRing(ByteBufAllocator allocator) throws IOException {
            ShmLink l = shm;
            if (l == null || lateHello != null || pendingInbound != null || !config.isReceiveInPlace()) {
                return null;
            }
            return l.lend(allocator);
        }

        /** Reads into {@code buf} at its writer index without moving it: the count, 0, or EOF. */
        private int readInto(ByteBuf buf) throws IOException {
            int writable = buf.writableBytes();
            int index = buf.writerIndex();
            if (lateHello != null) {
                int state = lateHello.watchLateHello();
                if (state == 0) {
                    return 0;
                }
                pendingInbound = lateHello.takeLeftover();
                lateHello = null;
                if (state < 0) {
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
            if (stream != null) {
                // The end mark first: once it is seen, the cursor read after it covers every byte.
                boolean ended = stream.peerOutputDone();
                if (stream.readable() > 0) {
                    // Credit goes back as the bytes are copied out.
                    return stream.read(buf, index, writable);
                }
                return ended ? NativeSocket.EOF : 0;
            }
            long address = BufferAddress.of(buf, index, writable);
            if (address != 0) {
                return socket.read(address, writable);
            }
            // A heap or composite buffer: read through a direct scratch and copy.
            ByteBuf scratch = ByteBufUtil.threadLocalDirectBuffer();
            if (scratch == null) {
                scratch = Unpooled.directBuffer(writable);
            }
            try {
                scratch.ensureWritable(writable);
                int n = socket.read(BufferAddress.of(scratch, 0, writable), writable);
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

    /**
     * Runs what the ring link's state calls for: a flush when credit came back, a read when bytes
     * came, the hang-up when the peer's end came, a close when the link failed. The shm poller calls
     * it every turn; on rdma, the completions that changed the link do. Returns how much it did.
     */
    private int streamReady() {
        StreamLink l = stream;
        if (l == null) {
            return 0;
        }
        VSocketUnsafe unsafe = (VSocketUnsafe) unsafe();
        try {
            if (l.failure() != null) {
                throw l.failure();
            }
            int work = 0;
            if (waitingForCredit && (l.credit() > 0 || rdma != null && rdma.peerReset())) {
                waitingForCredit = false;
                unsafe.flushLater();
                work++;
            }
            if (stream == null) {
                return work;
            }
            if (!peerEndSeen && l.peerOutputDone()) {
                // The hang-up, as epoll's RDHUP: read what is left and report the end, reading or
                // not; then, the input being shut, read once more to report that all was read. If
                // a read already met the end (it was reading when the end came), the first call
                // here is that second report.
                peerEndSeen = true;
                unsafe.inReady();
                if (isOpen() && inputShutdown && stream != null) {
                    unsafe.inReady();
                }
                return work + 1;
            }
            if (inputShutdown && !streamReadInterest) {
                l.discard();
            } else if (streamReadInterest && (l.readable() > 0 || l.peerOutputDone())) {
                unsafe.inReady();
                work++;
            }
            return work;
        } catch (IOException e) {
            pipeline().fireExceptionCaught(e);
            unsafe.close(unsafe.voidPromise());
            return 1;
        }
    }

    /** Runs {@link #streamReady()} from a task (once, however often asked before it runs). */
    private void streamReadyLater() {
        if (!streamTaskPending) {
            streamTaskPending = true;
            eventLoop().execute(() -> {
                streamTaskPending = false;
                streamReady();
            });
        }
    }

    /** Polls this channel's shm link while its loop spins, and parks it before the loop blocks. */
    private final class ShmPoller implements VSocketLoopPoller {
        @Override
        public int poll() {
            ShmLink l = shm;
            if (l == null) {
                return 0;
            }
            l.unpark();
            return streamReady();
        }

        @Override
        public boolean armAndCheck() {
            ShmLink l = shm;
            if (l == null) {
                return false;
            }
            try {
                return l.park(streamReadInterest, !peerEndSeen, waitingForCredit);
            } catch (RingProtocolException e) {
                return true;
            }
        }
    }

    /** The loop's rdma completions changed this channel's link. */
    private final class RdmaListener implements RdmaLink.Listener {
        @Override
        public void linkActivity() {
            streamReady();
        }
    }

    /** The shm link's doorbell: the peer rings it when this loop sleeps and it wrote or returned credit. */
    private final class Doorbell implements VSocketIoHandle {
        private final int fd = shm.doorbellFd();

        @Override
        public int fd() {
            return fd;
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            ShmLink l = shm;
            if (l != null) {
                l.drainDoorbell();
                shmPoller.poll();
            }
        }

        @Override
        public void close() {
            // The channel owns the eventfd; closing the channel closes it.
        }
    }
}
