package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.channel.AddressedEnvelope;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultAddressedEnvelope;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.UncheckedBooleanSupplier;
import io.netty.util.internal.StringUtil;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.sockaddr_in6;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.DatagramBatch;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;
import io.vsocket.unix.SocketAddresses;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.NoRouteToHostException;
import java.net.PortUnreachableException;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.channels.NotYetConnectedException;
import java.nio.channels.UnresolvedAddressException;

/**
 * A datagram channel: swap it in for {@code NioDatagramChannel}. It binds a real UDP socket on the
 * address it is given (dual-stack: IPv4 addresses work v4-mapped), so {@link #localAddress()} is
 * what the application asked for and plain UDP peers reach it; {@link DatagramPacket}s and
 * {@link AddressedEnvelope}s go in and out, and a connected channel also writes plain
 * {@link ByteBuf}s. Multicast joins and leaves work as on NIO.
 */
public final class VSocketDatagramChannel extends AbstractVSocketChannel implements DatagramChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(true, 16);
    private static final String EXPECTED_TYPES = " (expected: " + StringUtil.simpleClassName(DatagramPacket.class)
            + ", " + StringUtil.simpleClassName(AddressedEnvelope.class) + '<'
            + StringUtil.simpleClassName(ByteBuf.class) + ", " + StringUtil.simpleClassName(InetSocketAddress.class)
            + ">, " + StringUtil.simpleClassName(ByteBuf.class) + ')';

    private final VSocketDatagramChannelConfig config;
    /** The sender of the datagram read last, raw, and as an address: a peer that sends again costs no new address. */
    private final MemorySegment lastSenderRaw = Arena.ofAuto().allocate(sockaddr_in6.LAYOUT);
    private InetSocketAddress lastSender;
    /** The ways other than UDP: a UD endpoint where an RDMA device serves the local address, shm to peers on this host; else resolution messages only. */
    private volatile DatagramPath paths;
    private volatile boolean connected;
    /** Writes wait for a peer's UD resolution (UD required); loop thread only. */
    private boolean waitingForResolution;
    /**
     * A refused port the socket reported to a read the application did not ask for (the channel
     * reads for resolution while auto-read is off): the kernel would have reported it to the next
     * send, so the next datagram's write fails with it instead. Loop thread only.
     */
    private PortUnreachableException refusedForNextWrite;
    private io.netty.util.concurrent.ScheduledFuture<?> resolutionTimer;

    public VSocketDatagramChannel() {
        super(null, newSocket(), false);
        this.config = new VSocketDatagramChannelConfig(this, socket);
        this.paths = DatagramPath.udpOnly(this, socket);
    }

    private static NativeSocket newSocket() {
        try {
            return NativeSocket.newDatagramSocket();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a datagram socket", e);
        }
    }

    @Override
    public VSocketDatagramChannelConfig config() {
        return config;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public boolean isActive() {
        return socket.isOpen() && (active || config.isActiveOnRegistration() && isRegistered());
    }

    @Override
    public boolean isConnected() {
        return connected;
    }

    @Override
    protected void doBind(SocketAddress localAddress) throws Exception {
        InetSocketAddress address = (InetSocketAddress) localAddress;
        if (address.isUnresolved()) {
            throw new UnresolvedAddressException();
        }
        socket.bind(address);
        local = socket.localAddress();
        active = true;
        openUd();
    }

    /**
     * Opens the UD endpoint (where the local address names an RDMA device's port) and the shm side
     * once the local address is known (bound, or connected: then the kernel has picked it); UDP
     * only otherwise, and on a port shared with {@code SO_REUSEPORT}.
     */
    private void openUd() {
        if (paths.hasCarrier() || !config.isUd() && !config.isShm() || !isRegistered()) {
            return;
        }
        if (config.isReusePort()) {
            // The port is shared: the kernel picks the socket for each sender's datagrams, and the
            // application may keep that sender's state there (a QUIC server does). A carrier would
            // move them to whichever channel holds the port's shm name or UD endpoint.
            return;
        }
        DatagramPath path = DatagramPath.open(this, socket, ioHandler(), local, config.isUd(), config.isShm());
        if (path.hasCarrier()) {
            paths.close();
            paths = path;
            // Resolution messages come on the socket whether or not the application reads.
            setFlag(VSocketIoOps.IN);
        }
    }

    /**
     * The least the kernel counts of a datagram against the socket's receive buffer: its buffer's
     * bookkeeping (an {@code sk_buff} and its shared info, over 500 bytes) beside the payload. Less is
     * taken here, so a count of what was read errs towards reading more.
     */
    private static final int DATAGRAM_CHARGE_MIN = 256;

    /**
     * What the socket's receive queue can hold at most, as the kernel counts it: its limit (the
     * doubled value {@code SO_RCVBUF} reads back) and the one datagram it lets over the limit.
     */
    long socketQueueBound() {
        return (long) config.getReceiveBufferSize() + 65536 + DATAGRAM_CHARGE_MIN;
    }

    /**
     * One read turn of the socket (up to the allocator's messages per read), as a readiness would:
     * for a shm link's first datagram, which the peer's earlier datagrams over UDP must precede (see
     * {@link ShmDatagramPath}). What the turn read, each datagram charged at least {@link
     * #DATAGRAM_CHARGE_MIN}; -1 once the socket had nothing left (or the channel closed). A turn that a
     * refused port the socket reported cut short did not empty it: the next turn reads on.
     */
    long readSocketTurn() {
        DatagramUnsafe u = (DatagramUnsafe) unsafe();
        u.readSocket();
        return u.turnEmptied || !isOpen() ? -1 : u.turnCharge;
    }

    /** Whether the application takes datagrams now (auto-read, or a read() outstanding). */
    boolean isReading() {
        return config.isAutoRead() || ((AbstractVSocketUnsafe) unsafe()).readPending;
    }

    /** Whether this channel has a UD queue pair (its datagrams to vsocket peers then travel over UD). */
    public boolean hasUdEndpoint() {
        return paths.hasEndpoint();
    }

    /** The largest payload this channel sends over UD (larger datagrams go over UDP); 0 without an endpoint. */
    public int udMaxPayload() {
        DatagramPath path = paths;
        return path.hasEndpoint() ? path.endpoint().maxPayload() : 0;
    }

    /** Datagrams this channel posted on its UD queue pair. */
    public long udDatagramsSent() {
        DatagramPath path = paths;
        return path.hasEndpoint() ? path.endpoint().sent() : 0;
    }

    /** Datagrams this channel received over UD and handed to its pipeline or backlog. */
    public long udDatagramsReceived() {
        DatagramPath path = paths;
        return path.hasEndpoint() ? path.endpoint().received() : 0;
    }

    /** Whether peers on this host can send to this channel over shared memory (its rendezvous is up). */
    public boolean hasShmRendezvous() {
        return paths.shm() != null;
    }

    /** Datagrams this channel wrote into shm links to peers on this host (read on the channel's loop). */
    public long shmDatagramsSent() {
        ShmDatagramPath shm = paths.shm();
        return shm != null ? shm.sent() : 0;
    }

    /** Datagrams this channel received over shm links (read on the channel's loop). */
    public long shmDatagramsReceived() {
        ShmDatagramPath shm = paths.shm();
        return shm != null ? shm.received() : 0;
    }

    /**
     * Whether a datagram written to {@code to} now goes over a shm link: the peer on this host confirmed
     * one (read on the channel's loop; until then datagrams to it go over UD or UDP).
     */
    public boolean sendsOverShmTo(InetSocketAddress to) {
        if (!eventLoop().inEventLoop()) {
            // (It reads the link's confirmation and a peer's close as a send does: the loop's state.)
            throw new IllegalStateException("sendsOverShmTo must be called on the channel's event loop");
        }
        ShmDatagramPath shm = paths.shm();
        return shm != null && shm.linkTo(to) != null;
    }

    /** The shm links this channel has open (read on the channel's loop). */
    public int shmLinks() {
        ShmDatagramPath shm = paths.shm();
        return shm != null ? shm.links() : 0;
    }

    @Override
    protected void doDisconnect() throws Exception {
        InetSocketAddress before = local;
        socket.disconnect();
        connected = false;
        refusedForNextWrite = null; // said of the peer it no longer sends to
        remote = null;
        // Still active: a socket that was connected is bound (NIO counts a bound channel active).
        InetSocketAddress after = socket.localAddress();
        if (before != null && after.getPort() != before.getPort()) {
            // Linux lets go of a port the application did not name (bound as port 0, or by the
            // connect) when a datagram socket disconnects; keep it, as NIO does, so that peers
            // still reach the channel where they did. On the address the kernel has now, not the
            // connected one: a disconnect also lets go of the source address the connect's route
            // picked unless the application bound one, so a channel bound to the wildcard (or
            // never bound) is the wildcard's again, reached on every address, IPv4 and IPv6.
            socket.bind(new InetSocketAddress(after.getAddress(), before.getPort()));
            after = socket.localAddress();
        }
        local = after;
    }

    @Override
    protected void doBeginRead() {
        ((AbstractVSocketUnsafe) unsafe()).readPending = true;
        if (paths.hasBacklog()) {
            // Not from inside read(): a handler that calls read() again would nest deliveries.
            eventLoop().execute(paths::drainBacklog);
        }
        if (refusedForNextWrite != null) {
            // The application reads again before it wrote: the read learns it, as a read of the
            // socket would have.
            PortUnreachableException refused = refusedForNextWrite;
            refusedForNextWrite = null;
            eventLoop().execute(() -> pipeline().fireExceptionCaught(refused));
        }
        setFlag(VSocketIoOps.IN);
    }

    /** Called as the application stops reading; a channel with a UD endpoint or shm side keeps its socket read (resolution). */
    @Override
    void stopReading() {
        if (!paths.hasCarrier()) {
            super.stopReading();
        }
    }

    /**
     * The peer as the kernel connected to it, named as the application asked: a wildcard address
     * ({@code 0.0.0.0}, {@code ::}) means this host, and the kernel's address is what its datagrams
     * come from (over shm and UD as over UDP, where the kernel filters by it), as epoll reports it.
     */
    private InetSocketAddress peerAddress(InetSocketAddress asked) {
        try {
            InetSocketAddress peer = socket.remoteAddress();
            if (peer == null) {
                return asked;
            }
            // Named as asked, a literal too (127.0.0.1/127.0.0.1:53), as epoll's; an IPv6 scope asked is kept:
            // this address routes the channel's datagrams over shm and UD (a link-local peer needs it).
            InetAddress ip = peer.getAddress();
            InetAddress named = asked.getAddress() instanceof Inet6Address v6 && v6.getScopeId() != 0 && v6.equals(ip)
                    ? Inet6Address.getByAddress(asked.getHostString(), v6.getAddress(), v6.getScopeId())
                    : InetAddress.getByAddress(asked.getHostString(), ip.getAddress());
            return new InetSocketAddress(named, peer.getPort());
        } catch (IOException e) {
            return asked;
        }
    }

    /**
     * The buffer the channel's receive allocator would read the next datagram into: a longer
     * datagram is cut to it, over UD and shm as the kernel cuts one over UDP.
     */
    int receiveBufferGuess() {
        return unsafe().recvBufAllocHandle().guess();
    }

    /**
     * How many datagrams one read turn hands the pipeline before its read-complete, as the receive
     * allocator says: NIO's and epoll's read loops stop there, and so does a turn over shm or UD.
     */
    int maxMessagesPerRead() {
        RecvByteBufAllocator allocator = config.getRecvByteBufAllocator();
        return allocator instanceof MaxMessagesRecvByteBufAllocator m ? Math.max(1, m.maxMessagesPerRead()) : 16;
    }

    /**
     * A datagram came over UD or shm, {@code read} bytes of it kept (at most {@link #receiveBufferGuess()}):
     * the receive allocator learns of it as of a socket read of one datagram into a buffer of its
     * guess, so an adaptive one grows after a datagram filled (or was cut to) it, as over UDP.
     */
    void readOutsideSocket(int read) {
        RecvByteBufAllocator.Handle handle = unsafe().recvBufAllocHandle();
        handle.reset(config);
        handle.attemptedBytesRead(handle.guess());
        handle.lastBytesRead(read);
        handle.incMessagesRead(1);
        handle.readComplete();
    }

    /** A datagram was handed to the application: it is no longer owed one. */
    void delivered() {
        ((AbstractVSocketUnsafe) unsafe()).readPending = false;
    }

    @Override
    protected void doDeregister() {
        cancelResolutionTimer();
        // The endpoint belongs to this loop's rdma context, the shm links to its pollers: a channel
        // that leaves the loop goes on over UDP.
        if (paths.hasCarrier()) {
            paths.close();
            paths = DatagramPath.udpOnly(this, socket);
        }
        super.doDeregister();
    }

    private void cancelResolutionTimer() {
        if (resolutionTimer != null) {
            resolutionTimer.cancel(false);
            resolutionTimer = null;
        }
    }

    /** Its carriers stayed with the loop it left ({@link #doDeregister}): they open again on this one. */
    @Override
    void loopJoined() {
        if (local != null) {
            eventLoop().execute(() -> {
                if (isOpen()) {
                    openUd(); // once registered (the registration completes after this)
                }
            });
        }
    }

    @Override
    protected void doClose() throws Exception {
        cancelResolutionTimer();
        connected = false;
        try {
            paths.close();
        } finally {
            super.doClose();
        }
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof DatagramPacket packet) {
            InetSocketAddress recipient = checkResolved(packet.recipient());
            ByteBuf content = packet.content();
            return isSendable(content) ? packet : new DatagramPacket(directCopy(packet, content), recipient);
        }
        if (msg instanceof ByteBuf buf) {
            if (!connected) {
                throw new NotYetConnectedException();
            }
            return isSendable(buf) ? buf : directCopy(buf, buf);
        }
        if (msg instanceof AddressedEnvelope<?, ?> envelope && envelope.content() instanceof ByteBuf content
                && (envelope.recipient() == null || envelope.recipient() instanceof InetSocketAddress)) {
            @SuppressWarnings("unchecked")
            AddressedEnvelope<ByteBuf, InetSocketAddress> e = (AddressedEnvelope<ByteBuf, InetSocketAddress>) envelope;
            InetSocketAddress recipient = e.recipient();
            if (recipient == null) {
                if (!connected) {
                    throw new NotYetConnectedException();
                }
            } else {
                checkResolved(recipient);
            }
            if (isSendable(content)) {
                return e;
            }
            return new DefaultAddressedEnvelope<>(directCopy(e, content), recipient, e.sender());
        }
        throw new UnsupportedOperationException("unsupported message type: " + StringUtil.simpleClassName(msg)
                + EXPECTED_TYPES);
    }

    private static InetSocketAddress checkResolved(InetSocketAddress address) {
        if (address != null && address.isUnresolved()) {
            throw new UnresolvedAddressException();
        }
        return address;
    }

    /** One stretch of native memory: sent straight from its address. */
    private static boolean isSendable(ByteBuf buf) {
        return BufferAddress.of(buf, buf.readerIndex(), buf.readableBytes()) != 0 || buf.readableBytes() == 0 && buf.isDirect();
    }

    /** Where a sendable buffer's readable bytes lie. */
    private static long readable(ByteBuf buf) {
        return BufferAddress.of(buf, buf.readerIndex(), buf.readableBytes());
    }

    /** Copies {@code content} into a direct buffer of this channel's allocator and releases {@code holder}. */
    private ByteBuf directCopy(io.netty.util.ReferenceCounted holder, ByteBuf content) {
        ByteBuf copy = alloc().directBuffer(content.readableBytes());
        copy.writeBytes(content, content.readerIndex(), content.readableBytes());
        holder.release();
        return copy;
    }

    /**
     * Sends what is flushed in batches of up to {@link DatagramBatch#CAPACITY} per {@code sendmmsg}
     * (one datagram gets a plain send). A datagram the kernel refuses fails its own write, as on
     * Netty's datagram channels, and the rest go on; a full socket buffer waits for writability.
     */
    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        for (;;) {
            int queued = in.size();
            if (queued == 0) {
                paths.flush();
                clearFlag(VSocketIoOps.OUT);
                return;
            }
            if (isNothing(in.current())) {
                in.remove();
                continue;
            }
            if (refusedForNextWrite != null) {
                PortUnreachableException refused = refusedForNextWrite;
                refusedForNextWrite = null;
                in.remove(refused);
                continue;
            }
            int sent;
            try {
                if (paths.hasCarrier()) {
                    // Each datagram to a peer on this host or whose UD endpoint is known goes over shm
                    // or UD; the rest one by one over UDP.
                    Object msg = in.current();
                    InetSocketAddress to = recipient(msg);
                    int path = paths.trySend(content(msg), to != null ? to : remote, config.isUdRequired());
                    if (path == DatagramPath.SENT) {
                        in.remove();
                        continue;
                    }
                    if (path == DatagramPath.WAIT || path == DatagramPath.BUSY) {
                        // UD is required and the peer's resolution runs (the reply, or its timeout,
                        // writes again), or every send slot is out (the next turn, after its
                        // completions, writes again).
                        paths.flush();
                        clearFlag(VSocketIoOps.OUT);
                        awaitUd(path == DatagramPath.BUSY);
                        return;
                    }
                    sent = sendOne(msg);
                } else {
                    sent = queued == 1 ? sendOne(in.current()) : sendBatch(in);
                }
            } catch (NativeIoException e) {
                in.remove(translate(e));
                continue;
            } catch (IOException e) {
                in.remove(e);
                continue;
            }
            if (sent == 0) {
                // The socket's buffer is full: go on when it drains.
                paths.flush();
                setFlag(VSocketIoOps.OUT);
                return;
            }
            removeSent(in, sent);
            if (local == null) {
                // The first send bound the socket to an ephemeral port: what it receives on is this.
                local = socket.localAddress();
            }
        }
    }

    /**
     * Writes wait for UD: for a peer's resolution, a timer writes again once the request has had its
     * time (then the datagram goes over UD or fails) and a reply that comes sooner writes at once
     * ({@link DatagramUnsafe#inReady}); for a free send slot ({@code slots}), the loop's next turn,
     * after it has polled its completions.
     */
    private void awaitUd(boolean slots) {
        waitingForResolution = true;
        if (slots) {
            eventLoop().execute(this::resumeAfterResolution);
        } else if (resolutionTimer == null) {
            resolutionTimer = eventLoop().schedule(() -> {
                resolutionTimer = null;
                resumeAfterResolution();
            }, paths.waitNanos() + 1_000_000, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }

    /** A resolution ended (a reply, or the wait): the writes that waited go on. */
    void resumeAfterResolution() {
        if (waitingForResolution && isOpen()) {
            waitingForResolution = false;
            ((AbstractVSocketUnsafe) unsafe()).flush0Now();
        }
    }

    private int sendOne(Object msg) throws NativeIoException {
        ByteBuf data = content(msg);
        return socket.sendTo(readable(data), data.readableBytes(), recipient(msg)) ? 1 : 0;
    }

    private int sendBatch(ChannelOutboundBuffer in) throws Exception {
        DatagramBatch batch = DatagramBatch.empty();
        in.forEachFlushedMessage(msg -> {
            if (isNothing(msg)) {
                return false; // the batch ends before it: removeSent skips it
            }
            ByteBuf data = content(msg);
            batch.add(readable(data), data.readableBytes(), recipient(msg));
            return !batch.isFull();
        });
        return batch.send(socket);
    }

    /**
     * A datagram without a byte — what a cancelled write leaves in the outbound buffer, and any empty
     * buffer or packet the application writes, which Netty's NIO and epoll datagram channels complete
     * without sending either: removed without a send. {@code forEachFlushedMessage} skips cancelled
     * writes, and a batch ends before any other empty one, so a batch never holds one; removing a
     * batch's datagrams skips them.
     */
    private static boolean isNothing(Object msg) {
        return content(msg).readableBytes() == 0;
    }

    /** Removes {@code sent} datagrams from the head, and the nothings among them. */
    private static void removeSent(ChannelOutboundBuffer in, int sent) {
        int removed = 0;
        while (removed < sent) {
            Object head = in.current();
            if (head == null) {
                return;
            }
            if (!isNothing(head)) {
                removed++;
            }
            in.remove();
        }
    }

    private static ByteBuf content(Object msg) {
        return msg instanceof AddressedEnvelope<?, ?> envelope ? (ByteBuf) envelope.content() : (ByteBuf) msg;
    }

    /** Where a filtered message goes; null: the connected peer. */
    private static InetSocketAddress recipient(Object msg) {
        return msg instanceof AddressedEnvelope<?, ?> envelope ? (InetSocketAddress) envelope.recipient() : null;
    }

    /**
     * A failed send or receive as NIO reports it, a {@link SocketException}: a refused port (an ICMP
     * port unreachable came back for an earlier datagram) as {@link PortUnreachableException}, no
     * route as {@link NoRouteToHostException}; the native exception is the cause.
     */
    private static SocketException translate(NativeIoException e) {
        int errno = e.errno();
        SocketException s = errno == LibC.ECONNREFUSED ? new PortUnreachableException(e.getMessage())
                : errno == LibC.ENETUNREACH || errno == LibC.EHOSTUNREACH ? new NoRouteToHostException(e.getMessage())
                : new SocketException(e.getMessage());
        s.initCause(e);
        return s;
    }

    /** The sender of the datagram just received: the last one's address again when it is the same peer. */
    private InetSocketAddress sender() {
        MemorySegment raw = NativeSocket.lastSender();
        if (lastSender == null || MemorySegment.mismatch(raw, 0, sockaddr_in6.sizeof(), lastSenderRaw, 0,
                sockaddr_in6.sizeof()) != -1) {
            MemorySegment.copy(raw, 0, lastSenderRaw, 0, sockaddr_in6.sizeof());
            lastSender = SocketAddresses.read(raw);
        }
        return lastSender;
    }

    // Multicast ----------------------------------------------------------------------------------

    @Override
    public ChannelFuture joinGroup(InetAddress multicastAddress) {
        return joinGroup(multicastAddress, newPromise());
    }

    @Override
    public ChannelFuture joinGroup(InetAddress multicastAddress, ChannelPromise promise) {
        return membership(LibC.MCAST_JOIN_GROUP, multicastAddress, null, null, promise);
    }

    @Override
    public ChannelFuture joinGroup(InetSocketAddress multicastAddress, NetworkInterface networkInterface) {
        return joinGroup(multicastAddress, networkInterface, newPromise());
    }

    @Override
    public ChannelFuture joinGroup(InetSocketAddress multicastAddress, NetworkInterface networkInterface,
            ChannelPromise promise) {
        return joinGroup(multicastAddress.getAddress(), networkInterface, null, promise);
    }

    @Override
    public ChannelFuture joinGroup(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress source) {
        return joinGroup(multicastAddress, networkInterface, source, newPromise());
    }

    @Override
    public ChannelFuture joinGroup(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress source,
            ChannelPromise promise) {
        return membership(source == null ? LibC.MCAST_JOIN_GROUP : LibC.MCAST_JOIN_SOURCE_GROUP, multicastAddress,
                networkInterface, source, promise);
    }

    @Override
    public ChannelFuture leaveGroup(InetAddress multicastAddress) {
        return leaveGroup(multicastAddress, newPromise());
    }

    @Override
    public ChannelFuture leaveGroup(InetAddress multicastAddress, ChannelPromise promise) {
        return membership(LibC.MCAST_LEAVE_GROUP, multicastAddress, null, null, promise);
    }

    @Override
    public ChannelFuture leaveGroup(InetSocketAddress multicastAddress, NetworkInterface networkInterface) {
        return leaveGroup(multicastAddress, networkInterface, newPromise());
    }

    @Override
    public ChannelFuture leaveGroup(InetSocketAddress multicastAddress, NetworkInterface networkInterface,
            ChannelPromise promise) {
        return leaveGroup(multicastAddress.getAddress(), networkInterface, null, promise);
    }

    @Override
    public ChannelFuture leaveGroup(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress source) {
        return leaveGroup(multicastAddress, networkInterface, source, newPromise());
    }

    @Override
    public ChannelFuture leaveGroup(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress source,
            ChannelPromise promise) {
        return membership(source == null ? LibC.MCAST_LEAVE_GROUP : LibC.MCAST_LEAVE_SOURCE_GROUP, multicastAddress,
                networkInterface, source, promise);
    }

    @Override
    public ChannelFuture block(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress sourceToBlock) {
        return block(multicastAddress, networkInterface, sourceToBlock, newPromise());
    }

    @Override
    public ChannelFuture block(InetAddress multicastAddress, NetworkInterface networkInterface, InetAddress sourceToBlock,
            ChannelPromise promise) {
        if (sourceToBlock == null) {
            return promise.setFailure(new NullPointerException("sourceToBlock"));
        }
        return membership(LibC.MCAST_BLOCK_SOURCE, multicastAddress, networkInterface, sourceToBlock, promise);
    }

    @Override
    public ChannelFuture block(InetAddress multicastAddress, InetAddress sourceToBlock) {
        return block(multicastAddress, sourceToBlock, newPromise());
    }

    @Override
    public ChannelFuture block(InetAddress multicastAddress, InetAddress sourceToBlock, ChannelPromise promise) {
        return block(multicastAddress, null, sourceToBlock, promise);
    }

    /**
     * One membership request on the loop (or at once before registration). Without an interface the
     * one that has the channel's local address is used, else the kernel picks one (index 0).
     */
    private ChannelFuture membership(int request, InetAddress group, NetworkInterface nif, InetAddress source,
            ChannelPromise promise) {
        if (group == null) {
            return promise.setFailure(new NullPointerException("multicastAddress"));
        }
        Runnable change = () -> {
            try {
                socket.multicast(request, group, interfaceIndex(nif), source);
                promise.setSuccess();
            } catch (IOException | RuntimeException e) {
                promise.setFailure(e);
            }
        };
        if (isRegistered()) {
            onLoop(change);
        } else {
            change.run();
        }
        return promise;
    }

    private int interfaceIndex(NetworkInterface nif) throws SocketException {
        if (nif != null) {
            return nif.getIndex();
        }
        InetSocketAddress bound = local;
        if (bound != null && !bound.getAddress().isAnyLocalAddress()) {
            NetworkInterface own = NetworkInterface.getByInetAddress(bound.getAddress());
            if (own != null) {
                return own.getIndex();
            }
        }
        NetworkInterface configured = config.getNetworkInterface();
        return configured != null ? configured.getIndex() : 0;
    }

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new DatagramUnsafe();
    }

    private final class DatagramUnsafe extends AbstractVSocketUnsafe {
        /** What the last read turn read (see {@link #readSocketTurn}), and whether it found the socket empty. */
        long turnCharge;
        boolean turnEmptied;

        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            if (!promise.setUncancellable() || !ensureOpen(promise)) {
                return;
            }
            boolean wasActive = isActive();
            if (remoteAddress instanceof InetSocketAddress address && address.isUnresolved()) {
                // Before the socket is touched, as epoll's: the channel stays as it was (bound, receiving).
                promise.tryFailure(new UnresolvedAddressException());
                return;
            }
            try {
                InetSocketAddress to = (InetSocketAddress) remoteAddress;
                if (localAddress != null) {
                    doBind(localAddress);
                }
                socket.connect(to); // a ConnectException (NoRouteToHostException) naming the errno, as epoll's
                refusedForNextWrite = null; // said of a peer it no longer sends to
                remote = peerAddress(to);
                local = socket.localAddress();
                connected = true;
                active = true;
                openUd();
                promise.trySuccess();
                if (!wasActive && isActive()) {
                    pipeline().fireChannelActive();
                }
            } catch (Throwable t) {
                // As Netty's datagram channels do: a channel whose connect failed (its socket's) is closed.
                promise.tryFailure(t);
                close(voidPromise());
            }
        }

        @Override
        void outReady() {
            if (isFlagSet(VSocketIoOps.OUT)) {
                // The socket's buffer drained: what waits goes on.
                flush0();
            }
        }

        @Override
        void hangUpReady() {
            // A datagram socket has no peer to hang up; an error is read (and reported) by inReady.
        }

        @Override
        void inReady() {
            readSocket();
        }

        /** One read turn of the socket (up to the allocator's messages per read): true if it may hold more. */
        boolean readSocket() {
            assert eventLoop().inEventLoop();
            boolean emptied = false;
            ChannelPipeline pipeline = pipeline();
            RecvByteBufAllocator.Handle handle = recvBufAllocHandle();
            RecvByteBufAllocator.ExtendedHandle allocHandle = (RecvByteBufAllocator.ExtendedHandle) handle;
            allocHandle.reset(config);
            Throwable error = null;
            ByteBuf buf = null;
            // Datagrams this turn handed the application, and those that went elsewhere (a resolution
            // message, or one held while the application does not read): a turn whose datagrams all
            // went elsewhere, or that found none, is none of the application's, and ends without a
            // read-complete.
            int delivered = 0;
            int elsewhere = 0;
            turnCharge = 0;
            turnEmptied = false;
            try {
                do {
                    buf = allocHandle.allocate(config.getAllocator());
                    if (!buf.hasMemoryAddress()) {
                        int capacity = buf.writableBytes();
                        buf.release();
                        buf = io.netty.buffer.UnpooledByteBufAllocator.DEFAULT.directBuffer(capacity);
                    }
                    allocHandle.attemptedBytesRead(buf.writableBytes());
                    int n = socket.receiveFrom(BufferAddress.of(buf, buf.writerIndex(), buf.writableBytes()),
                            buf.writableBytes());
                    if (n == NativeSocket.NO_DATAGRAM) {
                        buf.release();
                        buf = null;
                        allocHandle.lastBytesRead(-1);
                        emptied = true;
                        turnEmptied = true;
                        break;
                    }
                    buf.writerIndex(buf.writerIndex() + n);
                    turnCharge += Math.max(n, DATAGRAM_CHARGE_MIN);
                    allocHandle.lastBytesRead(n);
                    allocHandle.incMessagesRead(1);
                    InetSocketAddress from = sender();
                    if (paths.onUdp(from, buf)) {
                        // A vsocket peer's resolution message: never the application's.
                        buf.release();
                        buf = null;
                        elsewhere++;
                        resumeAfterResolution();
                        continue;
                    }
                    DatagramPacket packet = new DatagramPacket(buf, local, from);
                    buf = null;
                    if (!isReading()) {
                        // A channel with a UD endpoint reads its socket even while the application does
                        // not (resolution must go on): the application's datagrams wait for it.
                        paths.hold(packet);
                        elsewhere++;
                        continue;
                    }
                    readPending = false;
                    delivered++;
                    pipeline.fireChannelRead(packet);
                } while (isOpen() && allocHandle.continueReading(UncheckedBooleanSupplier.TRUE_SUPPLIER));
            } catch (Throwable t) {
                if (buf != null) {
                    buf.release();
                }
                error = t instanceof NativeIoException e ? translate(e) : t;
            }
            allocHandle.readComplete();
            if (delivered > 0 || elsewhere == 0 && error != null) {
                // (A turn that found the socket empty at once — its datagram taken by an earlier read, as
                // when a resolution message resumed the reads — read nothing for the application either;
                // one that failed before any datagram still ends its read before the error.)
                pipeline.fireChannelReadComplete();
            }
            if (error instanceof PortUnreachableException refused && !isReading()) {
                // Read only for resolution: the application would have learnt it at its next send.
                refusedForNextWrite = refused;
                error = null;
            }
            if (error != null) {
                pipeline.fireExceptionCaught(error);
                // A refused port says only that an earlier datagram found nobody: the channel goes
                // on, as on NIO; any other read failure closes it.
                if (!(error instanceof PortUnreachableException)) {
                    close(voidPromise());
                    return false;
                }
            }
            if (!readPending && !config.isAutoRead()) {
                stopReading();
            }
            return !emptied && error == null;
        }
    }
}
