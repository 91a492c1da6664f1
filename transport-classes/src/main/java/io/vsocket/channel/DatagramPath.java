package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.concurrent.ScheduledFuture;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.datagram.PeerResolver;
import io.vsocket.datagram.PeerRoute;
import io.vsocket.datagram.ShmDatagramLink;
import io.vsocket.datagram.UdDatagram;
import io.vsocket.datagram.UdEndpoint;
import io.vsocket.link.Resources;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.link.rdma.RdmaLoop;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * The ways other than UDP that one {@link VSocketDatagramChannel}'s datagrams travel: its
 * {@link UdEndpoint} (where an RDMA device serves the channel's address), its
 * {@link ShmDatagramPath} (peers on this host), and the {@link PeerResolver} that learns over the
 * channel's UDP socket which peer takes which. The channel asks it to carry each datagram
 * ({@link #trySend}: over shm, over UD, over UDP, or — where UD is required — wait for the peer's
 * resolution), hands it each UDP datagram first ({@link #onUdp}: true for resolution messages,
 * which never reach the application), and gets UD and shm datagrams from it as
 * {@link DatagramPacket}s whose sender is the peer's UDP address. A channel with neither still has
 * a resolver with no local side: it swallows resolution messages from vsocket peers (they are not
 * the application's) and never asks anything itself. Event-loop thread only.
 */
final class DatagramPath implements UdEndpoint.Listener, PeerResolver.UdpSender, PeerResolver.ShmSide {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(DatagramPath.class);
    /** How often forgotten peers and expired tokens are swept. */
    private static final long EXPIRE_EVERY_SECONDS = 5;
    /**
     * Datagrams kept, in bytes, while the application does not read (auto-read off), at the least:
     * the socket buffer a UDP datagram would wait in. A larger {@code SO_RCVBUF} raises it to what
     * the kernel reports for it (twice the size asked, as the kernel books a buffer's overhead), so
     * an application that enlarges its buffer to ride out a burst keeps the burst here too. More are
     * dropped, as the kernel drops them.
     */
    static final int BACKLOG_BYTES = 256 * 1024;
    /** A held datagram whose buffer is larger than its bytes by more than this is copied into one its size. */
    private static final int COMPACT_SLACK = 512;

    private final VSocketDatagramChannel channel;
    private final NativeSocket socket;
    private final UdEndpoint endpoint;
    /** Null where the channel has no shm side. */
    private final ShmDatagramPath shm;
    private final PeerResolver resolver;
    private final ArrayDeque<DatagramPacket> backlog = new ArrayDeque<>();
    /** Resolution messages to send at the next {@link #flush()}. */
    private final ArrayDeque<DatagramPacket> outbox = new ArrayDeque<>();
    private int backlogBytes;
    /** The backlog's bound, read from the socket when a spell of holding begins (see {@link #BACKLOG_BYTES}). */
    private int backlogLimit = BACKLOG_BYTES;
    private boolean delivered;
    /**
     * Datagrams handed since the last read-complete: a UD completion batch can hold more than the
     * receive allocator's messages per read, and a socket's read loop stops there, so the batch is
     * handed in rounds of that many, each with its read-complete.
     */
    private int handedSinceComplete;
    private ScheduledFuture<?> expiry;

    private DatagramPath(VSocketDatagramChannel channel, NativeSocket socket, UdEndpoint endpoint, ShmDatagramPath shm) {
        this.channel = channel;
        this.socket = socket;
        this.endpoint = endpoint;
        this.shm = shm;
        this.resolver = new PeerResolver(endpoint, shm != null ? this : null, this);
        if (shm != null) {
            shm.path(this);
        }
    }

    /** A path with no endpoint and no shm side: UDP only, resolution messages swallowed. */
    static DatagramPath udpOnly(VSocketDatagramChannel channel, NativeSocket socket) {
        return new DatagramPath(channel, socket, null, null);
    }

    /**
     * A path for a channel bound at {@code local}: with an endpoint on the loop's rdma context for
     * the device port that serves {@code local} ({@code ud}; not for the wildcard or loopback), and
     * a shm side ({@code shm}); UDP only (saying why at debug level) where neither can be had.
     */
    static DatagramPath open(VSocketDatagramChannel channel, NativeSocket socket, VSocketIoHandler loop,
            InetSocketAddress local, boolean ud, boolean shm) {
        if (local == null) {
            return udpOnly(channel, socket);
        }
        UdEndpoint endpoint = null;
        if (ud && !local.getAddress().isAnyLocalAddress() && !local.getAddress().isLoopbackAddress()) {
            try {
                RdmaContext context = RdmaLoop.context(loop, local.getAddress());
                endpoint = UdEndpoint.open(context);
            } catch (IOException | RuntimeException e) {
                logger.debug("{}: no datagrams over UD: {}", channel, e.getMessage());
            }
        }
        ShmDatagramPath shmPath = shm ? ShmDatagramPath.open(channel, loop, local) : null;
        if (endpoint == null && shmPath == null) {
            return udpOnly(channel, socket);
        }
        DatagramPath path = new DatagramPath(channel, socket, endpoint, shmPath);
        if (endpoint != null) {
            endpoint.listener(path);
        }
        path.expiry = channel.eventLoop().scheduleAtFixedRate(path::expire, EXPIRE_EVERY_SECONDS, EXPIRE_EVERY_SECONDS,
                TimeUnit.SECONDS);
        return path;
    }

    boolean hasEndpoint() {
        return endpoint != null;
    }

    private void expire() {
        long now = System.nanoTime();
        resolver.expire(now);
        if (shm != null) {
            shm.sweepExpected(now);
        }
    }

    /** Whether any datagram may go other than over UDP (a UD endpoint, or a shm side). */
    boolean hasCarrier() {
        return endpoint != null || shm != null;
    }

    /** The shm side, or null. */
    ShmDatagramPath shm() {
        return shm;
    }

    UdEndpoint endpoint() {
        return endpoint;
    }

    /** {@link #trySend}: the datagram is queued over UD. */
    static final int SENT = 1;
    /** {@link #trySend}: send the datagram over UDP. */
    static final int UDP = 0;
    /** {@link #trySend}: UD is required and the peer's resolution runs: keep the datagram and try again. */
    static final int WAIT = -1;
    /** {@link #trySend}: UD is required and every send slot is out: keep the datagram, try on the next turn. */
    static final int BUSY = -2;

    /**
     * Queues {@code data} to {@code to} ({@link #SENT}) over its shm link when the peer is on this
     * host and has confirmed the link (dropped when the link's ring is full, as the kernel drops a
     * datagram for a full receive buffer), else over UD when its route is known and it fits; else
     * {@link #UDP} (the first datagrams to a peer go so while the resolution runs). Where UD is
     * required ({@code required}), a datagram to a peer being resolved {@link #WAIT}s, and one
     * neither shm nor UD can carry fails with an exception saying why.
     */
    int trySend(ByteBuf data, InetSocketAddress to, boolean required) throws IOException {
        boolean unicast = to != null && !isGroup(to);
        if (shm != null && unicast && fitsUdp(data, to)) {
            ShmDatagramLink link = shm.linkTo(to);
            if (link != null) {
                shm.send(link, data); // or dropped for a full ring, as the kernel drops it
                return SENT;
            }
        }
        if (endpoint != null && !endpoint.isOpen() && !required) {
            return shmOnly(to, unicast);
        }
        if (endpoint == null || !unicast) {
            if (required && endpoint != null) {
                throw new IOException("UD is required and " + (to == null ? "the datagram has no recipient"
                        : to.getAddress().getHostAddress() + " is a group address") + ": UD carries unicast only");
            }
            return shmOnly(to, unicast);
        }
        long now = System.nanoTime();
        PeerRoute peer = resolver.routeTo(to, now, asksShm(to, now));
        if (peer != null && peer.route() != null) {
            if (endpoint.send(peer.route(), peer.token(), data)) {
                return SENT;
            }
            if (!required) {
                return UDP;
            }
            if (data.readableBytes() > peer.route().maxPayload()) {
                throw new IOException("UD is required and a datagram of " + data.readableBytes()
                        + " bytes is larger than UD carries to " + to + " (" + peer.route().maxPayload() + ")");
            }
            if (endpoint.failure() != null) {
                throw new IOException("UD is required and this channel's UD queue pair failed", endpoint.failure());
            }
            if (!endpoint.isOpen()) {
                throw new IOException("UD is required and this channel's UD queue pair is closed (its loop's rdma "
                        + "context closed)");
            }
            return BUSY; // every send slot is out: the next turn's completions free some
        }
        if (!required) {
            return UDP;
        }
        if (resolver.isPending(to, now)) {
            return WAIT;
        }
        throw new IOException("UD is required and " + to + " did not answer the UD resolution (no vsocket there, "
                + "no RDMA device for its address, or a firewall); it is asked again after a backoff");
    }

    /**
     * {@link #trySend} for a datagram without a confirmed shm link that UD does not carry (no
     * endpoint, or a group address): over UDP, asking the peer for shm when its rendezvous is here
     * and no link is set up yet (the link is set up when the reply comes, and carries datagrams
     * once the peer confirms it).
     */
    private int shmOnly(InetSocketAddress to, boolean unicast) {
        if (unicast) {
            long now = System.nanoTime();
            if (asksShm(to, now)) {
                resolver.routeTo(to, now, true);
            }
        }
        return UDP;
    }

    /** Whether {@code to}'s resolution asks for shm: no link to it is set up, and its rendezvous is on this host. */
    private boolean asksShm(InetSocketAddress to, long now) {
        return shm != null && !shm.hasLinkTo(to) && shm.hasRendezvous(to, now);
    }

    /**
     * Whether UDP could carry {@code data} to {@code to}: a larger datagram goes to the UDP socket,
     * which refuses it ({@code EMSGSIZE}), as it would without shm.
     */
    private static boolean fitsUdp(ByteBuf data, InetSocketAddress to) {
        return data.readableBytes() <= (to.getAddress() instanceof java.net.Inet4Address ? 65_507 : 65_527);
    }

    /** A shm link to {@code peer} went (it closed, broke, or never confirmed): the resolver forgets its offer. */
    void shmGone(InetSocketAddress peer, boolean failed) {
        resolver.shmGone(peer, System.nanoTime(), failed);
    }

    /** {@link PeerResolver.ShmSide}: a same-host requester was offered shm. */
    @Override
    public void expect(InetSocketAddress requester, long token, long nonce, int ringShift) {
        shm.expect(requester, token, nonce, ringShift);
    }

    /** {@link PeerResolver.ShmSide}: this side's shm receive rings hold what its receive buffer would. */
    @Override
    public int receiveRingShift() {
        return ShmDatagramPath.ringShift(reportedReceiveBuffer());
    }

    @Override
    public boolean offersTo(InetSocketAddress requester) {
        return shm.offersTo(requester);
    }

    /** {@link PeerResolver.ShmSide}: a peer offered shm; its link is set up now, to carry the next datagram. */
    @Override
    public void offered(PeerRoute peer) {
        if (!shm.hasLinkTo(peer.address()) && !shm.connect(peer.address(), peer, receiveRingShift())) {
            resolver.shmGone(peer.address(), System.nanoTime(), true);
        }
    }

    /**
     * How long a datagram waiting for its peer's resolution waits before it is looked at again: as
     * long as the resolver leaves a request unanswered before it sends it again (or gives up).
     */
    long waitNanos() {
        return resolver.resendIntervalNanos();
    }

    /**
     * Multicast and the limited broadcast go over UDP, never asked for an endpoint: a request there
     * would reach every member, and the answers come from addresses that were not asked.
     */
    private static boolean isGroup(InetSocketAddress to) {
        return to.getAddress().isMulticastAddress() || LIMITED_BROADCAST.equals(to.getAddress());
    }

    private static final InetAddress LIMITED_BROADCAST;

    static {
        try {
            LIMITED_BROADCAST = InetAddress.getByAddress(new byte[] {-1, -1, -1, -1});
        } catch (java.net.UnknownHostException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Posts what {@link #trySend} queued, and sends the resolution messages that wait. */
    void flush() {
        if (shm != null) {
            shm.flush();
        }
        if (endpoint != null) {
            endpoint.flush();
        }
        if (!outbox.isEmpty()) {
            sendOutbox();
        }
    }

    /** A datagram from the UDP socket: true when it was a resolution message (handled here). */
    boolean onUdp(InetSocketAddress from, ByteBuf content) {
        if (!resolver.onUdpDatagram(from, content, System.nanoTime())) {
            return false;
        }
        // A reply to a request goes at once: nothing of the application's waits to go first.
        sendOutbox();
        return true;
    }

    /**
     * The resolver's messages wait until {@link #flush()}, which the channel calls once the
     * datagram that made the resolver ask has gone over UDP: a peer without vsocket then sees the
     * application's datagram first, and the request (which it may take for one) after it. A
     * message that cannot go is lost, as UDP loses it. Resolution messages are rare (one per peer
     * and refresh), so this copy is no hot path.
     */
    @Override
    public void send(InetSocketAddress recipient, ByteBuf message) {
        ByteBuf copy = UnpooledByteBufAllocator.DEFAULT.directBuffer(message.readableBytes());
        copy.writeBytes(message, message.readerIndex(), message.readableBytes());
        outbox.add(new DatagramPacket(copy, recipient));
    }

    private void sendOutbox() {
        DatagramPacket message;
        while ((message = outbox.poll()) != null) {
            ByteBuf content = message.content();
            try {
                socket.sendTo(io.vsocket.buffer.BufferAddress.of(content, content.readerIndex(), content.readableBytes()),
                        content.readableBytes(), message.recipient());
            } catch (NativeIoException e) {
                logger.debug("{}: a resolution message to {} was not sent: {}", channel, message.recipient(), e.getMessage());
            } finally {
                message.release();
            }
        }
    }

    /** A UD datagram: to the pipeline as a packet from its UDP sender, or dropped when its token names none. */
    @Override
    public void received(UdDatagram datagram) {
        InetSocketAddress sender = resolver.senderOf(datagram, System.nanoTime());
        if (sender == null || !channel.isOpen()) {
            return;
        }
        if (channel.isConnected() && !sender.equals(channel.remoteAddress())) {
            // A connected UDP socket hears only its peer (the kernel filters); so does its UD side.
            return;
        }
        int length = Math.min(datagram.length(), channel.receiveBufferGuess());
        ByteBuf buf = channel.config().getAllocator().directBuffer(length);
        datagram.readPayload(buf, length);
        channel.readOutsideSocket(length);
        hand(new DatagramPacket(buf, channel.localAddress(), sender));
    }

    /**
     * A datagram of {@code length} bytes waits in {@code link}: read into a packet from the link's
     * peer and handed over (true), or false (the caller skips it) when the channel takes none.
     */
    boolean receivedShm(ShmDatagramLink link, int length) throws RingProtocolException {
        InetSocketAddress sender = link.peer();
        if (!channel.isOpen() || channel.isConnected() && !sender.equals(channel.remoteAddress())) {
            return false;
        }
        int kept = Math.min(length, channel.receiveBufferGuess());
        ByteBuf buf = channel.config().getAllocator().directBuffer(kept);
        try {
            link.readPayload(buf, kept);
        } catch (RingProtocolException | RuntimeException e) {
            buf.release();
            throw e;
        }
        channel.readOutsideSocket(kept);
        hand(new DatagramPacket(buf, channel.localAddress(), sender));
        return true;
    }

    /** To the pipeline while the application reads and nothing older waits; else into the backlog. */
    private void hand(DatagramPacket packet) {
        if (channel.isReading() && backlog.isEmpty()) {
            delivered = true;
            channel.delivered();
            channel.pipeline().fireChannelRead(packet);
            if (++handedSinceComplete >= channel.maxMessagesPerRead()) {
                afterDatagrams();
            }
        } else {
            hold(packet);
        }
    }

    /**
     * Keeps a datagram for when the application reads again; beyond the backlog's bytes it is
     * dropped, as the kernel drops it. A datagram costs its buffer and a share for the packet (as
     * the kernel charges a datagram's whole buffer to the socket), so neither empty datagrams nor
     * small ones in large buffers hold more memory than the backlog's bound.
     */
    void hold(DatagramPacket packet) {
        if (backlog.isEmpty()) {
            backlogLimit = receiveBufferBytes();
        }
        packet = compact(packet);
        int bytes = backlogCost(packet);
        if (backlogBytes + bytes <= backlogLimit) {
            backlog.add(packet);
            backlogBytes += bytes;
        } else {
            packet.release();
        }
    }

    /** The backlog's bound now: {@link #BACKLOG_BYTES}, or the socket's receive buffer where that is larger. */
    private int receiveBufferBytes() {
        return Math.max(BACKLOG_BYTES, reportedReceiveBuffer());
    }

    /** {@code SO_RCVBUF} as the kernel reports it (twice what was asked), or 0 where it cannot be read. */
    private int reportedReceiveBuffer() {
        try {
            return socket.getIntOption(LibC.SOL_SOCKET, LibC.SO_RCVBUF, "SO_RCVBUF");
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * A datagram to hold, in a buffer of its own size where the one it was read into is much larger
     * (a 2 KiB read buffer for 100 bytes): a held datagram costs what it holds, so a burst of small
     * ones fills the backlog by their bytes, as the kernel's buffer fills by theirs, not by the
     * read buffers' size. A copy, on the path of an application that is not reading anyway.
     */
    private DatagramPacket compact(DatagramPacket packet) {
        ByteBuf content = packet.content();
        int readable = content.readableBytes();
        if (content.capacity() - readable <= COMPACT_SLACK) {
            return packet;
        }
        ByteBuf copy;
        try {
            copy = channel.alloc().buffer(readable);
        } catch (RuntimeException | OutOfMemoryError e) {
            return packet; // kept as it came: the bound still counts its whole buffer
        }
        copy.writeBytes(content, content.readerIndex(), readable);
        DatagramPacket kept = packet.replace(copy);
        packet.release();
        return kept;
    }

    private static int backlogCost(DatagramPacket packet) {
        return packet.content().capacity() + PACKET_OVERHEAD;
    }

    /** What a held datagram costs beside its buffer: the packet, its addresses, the queue's node. */
    private static final int PACKET_OVERHEAD = 256;

    boolean hasBacklog() {
        return !backlog.isEmpty();
    }

    @Override
    public void afterDatagrams() {
        handedSinceComplete = 0;
        if (delivered) {
            delivered = false;
            channel.pipeline().fireChannelReadComplete();
        }
    }

    /**
     * The application reads again: hands it what waited, while it keeps reading (a {@code read()}
     * with auto-read off takes one), at most the receive allocator's messages per read each turn.
     */
    void drainBacklog() {
        if (backlog.isEmpty() || !channel.isOpen()) {
            return;
        }
        ChannelPipeline pipeline = channel.pipeline();
        int handed = 0;
        int budget = channel.maxMessagesPerRead();
        while (channel.isReading() && !backlog.isEmpty() && handed < budget) {
            DatagramPacket packet = backlog.poll();
            backlogBytes -= backlogCost(packet);
            channel.delivered();
            handed++;
            pipeline.fireChannelRead(packet);
        }
        if (handed > 0) {
            pipeline.fireChannelReadComplete();
        }
        if (channel.isReading() && !backlog.isEmpty()) {
            channel.eventLoop().execute(this::drainBacklog);
        }
    }


    /** Releases the endpoint and what waits; idempotent. */
    void close() {
        if (expiry != null) {
            expiry.cancel(false);
            expiry = null;
        }
        if (endpoint != null && socket.isOpen()) {
            // Peers sending to this endpoint over UD hear it is gone (their datagrams would vanish).
            resolver.goodbye();
            sendOutbox();
        }
        DatagramPacket packet;
        while ((packet = backlog.poll()) != null) {
            packet.release();
        }
        while ((packet = outbox.poll()) != null) {
            packet.release();
        }
        backlogBytes = 0;
        if (shm != null) {
            shm.close();
        }
        if (endpoint != null) {
            Resources.closeQuietly(endpoint);
        }
    }
}
