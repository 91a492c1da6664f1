package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.LinkHost;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.Scratch;
import io.vsocket.link.TcpConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.VSocketLinkException;
import io.vsocket.link.shm.ShmConnectionLink;
import io.vsocket.link.shm.ShmHello;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.PeerDescriptors;
import io.vsocket.unix.NativeSocket;
import io.vsocket.unix.TcpPeerEnd;

import java.io.IOException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A connection between two vsocket channels on one host that is usable as soon as its TCP connection
 * is, and moves onto shm when the hello completes, however late: the hello as an upgrade, not a gate.
 * The client greets with {@link Hello#UPGRADE_MARKER} instead of {@link Hello#CLIENT_MARKER} and its
 * channel is active at once; the server's channel is active as soon as the marker came, and its offer
 * is the first thing in its stream. Each direction then moves on its own, at a byte position its
 * writer announces in the shared memory before its first byte in the ring:
 *
 * <pre>
 * client                                           server
 *   urgent 'u', then its bytes over tcp  ------->    active; offer, then its bytes over tcp
 *   reads the offer off the front of the stream;
 *   memfd + doorbell to the rendezvous   ------->    maps them, starts its ring link,
 *                                                    tcpEnd(server) = bytes it wrote over tcp,
 *                                                    attached = 1, rings the client; writes in the ring
 *   sees attached: tcpEnd(client) = bytes it
 *   wrote over tcp; writes in the ring
 * each side reads the peer's bytes over tcp up to the peer's tcpEnd, then from the ring
 * </pre>
 *
 * Nothing is sent over tcp once a side announced its end there (the socket is the control connection
 * from then on, as under any shm link), so a reader that has not seen the announcement yet reads only
 * bytes before it. The client writes into the ring only after the server said it attached, so bytes
 * are never stranded in memory nobody maps; a server that cannot attach (or a client that cannot make
 * the memory) leaves the connection on tcp. A side whose output was shut over tcp keeps that
 * direction there. Event-loop thread only, but {@link #kind()}.
 */
public final class ShmUpgradeLink implements ConnectionLink {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmUpgradeLink.class);

    /**
     * Whether same-host clients whose links allow shm and tcp go on over tcp at once and move onto shm
     * when the hello completes (the default), or wait for the hello before their connect completes.
     */
    public static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("io.vsocket.shmUpgrade", "true"));

    /**
     * How long a client goes on over tcp after the offer before it makes the shared memory: a
     * connection that ends sooner (one request, say) never pays for memory it would hardly use, and
     * the set-up's system calls (some 300 µs of both sides' CPU) stay out of its way.
     */
    static final long SET_UP_DELAY_MICROS = Long.getLong("io.vsocket.shmUpgradeDelayMicros", 1000L);

    /**
     * The longest a server's offer, due on its own, waits between two looks at whether the client's kernel has
     * delivered its bytes (the waits double from a millisecond; see {@link #offerTimerFired}).
     */
    static final long OFFER_RETRY_MAX_MICROS = 100_000;

    /**
     * How long a peer's tcp end, with this side's bytes unread in the ring, waits for its doorbell to
     * close before it counts as the peer's own end rather than its process's death (see
     * {@link #tcpEndedBeforeTheMove}): the kernel closes a dead process's descriptors one after the other,
     * microseconds apart unless it is preempted between them.
     */
    static final long DEATH_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** How often the doorbell is looked at meanwhile. */
    static final long DEATH_LOOK_MICROS = 1000;

    /** Whether a server said at INFO that it could not map a client's memory (see {@link #mapShm}). */
    private static final AtomicBoolean MAP_FAILURE_SAID = new AtomicBoolean();

    private final LinkHost host;
    private final NativeSocket socket;
    private final LinkSettings config;
    private final boolean client;
    private final TcpConnectionLink tcp;
    /** Client: the server's first bytes, read while looking for its offer at their front; null once done. */
    private ByteBuf offerBytes;
    /** Client: the timer that says so when an offer stops midway. */
    private Future<?> offerStallTimer;
    /** Client: what a read for the offer failed with, for the channel's next read (see {@link #offerRead}). */
    private IOException offerFailure;
    /** Client: the server's bytes that came behind its offer (or were no offer): the application's first. */
    private ByteBuf held;
    private ShmLink shm;
    private ShmConnectionLink ring;
    /** Bytes of the peer's stream read from tcp (the held ones included). */
    private long tcpRead;
    /** Where the peer's stream leaves tcp for the ring, once it said; -1 before. */
    private long peerTcpEnd = -1;
    /** This side writes into the ring (it announced its tcp end). */
    private boolean writesOnRing;
    /** Reads come from the ring (every byte the peer sent over tcp was read). */
    private boolean readsOnRing;
    /** This side's output was shut while it wrote over tcp: that direction stays there. */
    private boolean outputShutOnTcp;
    /**
     * The peer's stream ended over tcp (it never moved): this side's writes stay there too, where a
     * peer that dies later still answers them with a reset, as a plain TCP peer would.
     */
    private boolean peerEndedOnTcp;
    /**
     * The ring's read interest is held back while tcp owes bytes the ring must wait for (the tail
     * before the peer's tcp end, or the end of a stream that never moved): tcp's readiness brings
     * those, and the ring, which has something, would otherwise call for a read on every poll.
     */
    private boolean ringWaits;
    private boolean readInterest;
    private boolean started;
    private boolean closed;
    private volatile VSocketLink kind = VSocketLink.TCP;
    // Client: the offer's.
    private byte[] token;
    private int serverRing;
    private String rendezvousName;
    // Server: where the client's memory comes, and how long a server that does not allow tcp waits for it.
    private final ShmRendezvous rendezvous;
    private Future<?> patience;
    /** Server: the offer not sent yet (see {@link #offerFirst}). */
    private ByteBuf offerOut;
    private Future<?> offerTimer;
    /** Server: the offer's next wait, while the client's kernel still has bytes to deliver (see {@link #offerTimerFired}). */
    private long offerRetryMicros = Math.max(SET_UP_DELAY_MICROS, 1000);
    /** Client: the set-up that makes the shared memory, once the offer came. */
    private Future<?> setUpTimer;
    /** When the peer's tcp end was read while its death was not yet told from its end (nanoTime), or 0. */
    private long tcpEndedAt;
    /** The next look at the doorbell meanwhile. */
    private Future<?> deathTimer;

    private ShmUpgradeLink(LinkHost host, NativeSocket socket, LinkSettings config, boolean client,
                           ShmRendezvous rendezvous, byte[] token) {
        this.host = host;
        this.socket = socket;
        this.config = config;
        this.client = client;
        this.tcp = new TcpConnectionLink(host, socket, config);
        this.rendezvous = rendezvous;
        this.token = token;
        if (client) {
            offerBytes = Unpooled.buffer(Hello.HEADER + 128);
        }
    }

    /**
     * Whether a client with these links, connected from {@code local} to {@code remote}, greets with
     * the upgrade marker: the server is on this host (a loopback address, or this connection's own
     * address), shm and tcp are allowed, and shm is preferred to rdma.
     */
    static boolean suits(LinkSettings config, java.net.InetSocketAddress local, java.net.InetSocketAddress remote) {
        if (!linksSuit(config) || local == null || remote == null) {
            return false;
        }
        return remote.getAddress().isLoopbackAddress() || remote.getAddress().equals(local.getAddress());
    }

    /**
     * Whether the links allow this upgrade: shm and tcp, and rdma (if at all) after shm; and neither it
     * ({@link #ENABLED}) nor going on over tcp at once at all ({@link LinkNegotiation#UPGRADE}, which the
     * README promises makes every client wait for the hello) is turned off.
     */
    static boolean linksSuit(LinkSettings config) {
        java.util.List<VSocketLink> links = config.getLinks();
        int shmAt = links.indexOf(VSocketLink.SHM);
        int rdmaAt = links.indexOf(VSocketLink.RDMA);
        return ENABLED && LinkNegotiation.UPGRADE && shmAt >= 0 && links.contains(VSocketLink.TCP) && (rdmaAt < 0 || rdmaAt > shmAt);
    }

    /** The client's side: its channel goes on over tcp now, and reads the offer off the server's first bytes. */
    static ShmUpgradeLink client(LinkHost host, NativeSocket socket, LinkSettings config) {
        return new ShmUpgradeLink(host, socket, config, true, null, null);
    }

    /** The server's side, before its offer (with {@code token}) goes: the client's memory comes to {@code rendezvous}. */
    static ShmUpgradeLink server(LinkHost host, NativeSocket socket, LinkSettings config, ShmRendezvous rendezvous,
                                 byte[] token) {
        ShmUpgradeLink link = new ShmUpgradeLink(host, socket, config, false, rendezvous, token);
        rendezvous.expect(token, link::descriptorsSent);
        return link;
    }

    /**
     * Server: the offer, sent just before this side's first bytes (or its end), or after
     * {@link #SET_UP_DELAY_MICROS} if none come: the client then learns of it with the answer it
     * waits for, not in a wake-up of its own before it.
     */
    void offerFirst(ByteBuf encoded) {
        offerOut = encoded;
    }

    /**
     * Server: hands the offer to the tcp link, which sends it ahead of this side's next bytes (in the
     * same {@code writev}, so the client wakes once for both); if it has not gone yet.
     */
    private void offerAhead() {
        ByteBuf o = offerOut;
        if (o != null) {
            offerOut = null;
            offerTimer = cancel(offerTimer);
            tcp.sendAhead(o);
        }
    }

    /**
     * Server: sends the offer now, alone, if it has not gone yet. The socket takes a connection's first
     * hundred bytes whole; if it did not, nothing would send the rest before this side's end (or ever,
     * with nothing more to write): the connection fails instead, as the hello's other sends do.
     */
    private void sendOffer() throws IOException {
        offerAhead();
        if (!tcp.flushAhead()) {
            throw new VSocketLinkException("could not send the vsocket offer: the socket took only part of it");
        }
    }

    /**
     * Server: the offer on its own, with none of the application's bytes behind it (its timer, or this
     * side's end) — only where no byte of the client's is at stake. A client that closed before the offer
     * came, or whose process ended, leaves its socket to the kernel, which still delivers what the client
     * wrote but answers any byte that reaches it with a reset, and the reset throws away what it had not
     * delivered yet: a client that wrote more than this side's socket takes, closed and exited before this
     * side got to it would lose the rest to a hello it never asked for (helper-60's probe: 128 KiB of 1 MiB
     * read, then "Connection reset by peer"). So would a client still there whose kernel still has bytes to
     * deliver, should it exit before it reads the offer. Neither gets one, and the connection stays on tcp.
     * (With the application's bytes behind it the offer goes as it is: those bytes would meet the same
     * reset, as over epoll.)
     */
    private void sendOfferAlone() throws IOException {
        sendOfferAlone(offerOut != null ? TcpPeerEnd.of(socket) : TcpPeerEnd.UNKNOWN);
    }

    /** {@link #sendOfferAlone()} where the client's end was just looked up. */
    private void sendOfferAlone(TcpPeerEnd clientEnd) throws IOException {
        if (offerOut != null && !mayOfferAlone(clientEnd)) {
            logger.debug("{}: the client's end of the connection is closed, or its kernel still has bytes to deliver: "
                    + "no offer to move onto shm, which could have it reset the connection", host);
            offerOut.release();
            offerOut = null;
            offerTimer = cancel(offerTimer);
            rendezvous.forget(token);
            return;
        }
        sendOffer();
    }

    /**
     * Whether a server may send {@code socket}'s client a hello with none of the application's bytes behind it:
     * not when the client's socket is released (closed, or its process ended: the kernel's alone) or its
     * kernel still has bytes to deliver. Where the kernel cannot say (no sock_diag here, or the client's
     * socket is not found by this side's addresses: a NAT on the way), it may, as before it could ask.
     */
    static boolean mayOfferAlone(NativeSocket socket) {
        return mayOfferAlone(TcpPeerEnd.of(socket));
    }

    private static boolean mayOfferAlone(TcpPeerEnd clientEnd) {
        return clientEnd != TcpPeerEnd.RELEASED && clientEnd != TcpPeerEnd.SENDING;
    }

    /**
     * Server: the offer's timer, this side having written nothing. While the client's kernel still has bytes of
     * its to deliver, the offer waits (a millisecond, doubling up to {@link #OFFER_RETRY_MAX_MICROS}): a client
     * that writes and then exits without closing leaves an offer that reached it in its last moments unread, and
     * its kernel then resets the connection and throws away what it had not delivered yet (helper-65's probe: 13
     * of 15 such clients of a busy server lost bytes). Once they are delivered, nothing of the client's is at
     * stake; a client that has gone by then gets no offer at all.
     */
    private void offerTimerFired() {
        offerTimer = null;
        if (closed || offerOut == null) {
            return;
        }
        TcpPeerEnd end = TcpPeerEnd.of(socket);
        if (end == TcpPeerEnd.SENDING) {
            offerTimer = host.eventLoop().schedule(this::offerTimerFired, offerRetryMicros, TimeUnit.MICROSECONDS);
            offerRetryMicros = Math.min(2 * offerRetryMicros, OFFER_RETRY_MAX_MICROS);
            return;
        }
        try {
            sendOfferAlone(end);
        } catch (IOException e) {
            host.failed(e);
        }
    }

    /** Server: the client's first bytes, read off the socket with its marker: the application's first. */
    void hold(ByteBuf first) {
        held = first;
    }

    @Override
    public VSocketLink kind() {
        return kind;
    }

    @Override
    public void start(boolean reading) {
        started = true;
        readInterest = reading;
        tcp.start(reading);
        if (offerBytes != null) {
            // A client reads the offer off the server's first bytes whether the application reads or not.
            host.watch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        }
        if (reading) {
            readHeldLater();
        }
        if (offerOut != null) {
            offerTimer = host.eventLoop().schedule(this::offerTimerFired, SET_UP_DELAY_MICROS, TimeUnit.MICROSECONDS);
        }
        if (!client && !config.getLinks().contains(VSocketLink.TCP)) {
            long millis = 10L * config.getHelloTimeoutMillis();
            patience = host.eventLoop().schedule(() -> {
                if (shm == null && !closed) {
                    host.failed(new VSocketLinkException("the client " + "did not move onto shm within " + millis
                            + " ms of going on over tcp, and tcp is not among this server's links " + config.getLinks()));
                }
            }, millis, TimeUnit.MILLISECONDS);
        }
    }

    // ---- writes ----

    @Override
    public void write(ChannelOutboundBuffer in) throws Exception {
        if (writesOnRing) {
            sendOffer();
        } else {
            offerAhead();
        }
        if (!writesOnRing && client && shm != null && !outputShutOnTcp && !closed) {
            lookAtServer();
        }
        if (writesOnRing) {
            ring.write(in);
        } else {
            tcp.write(in);
        }
    }

    /** From here on this side's bytes go into the ring; what waited for tcp's writability goes now. */
    private void moveWrites() {
        shm.announceTcpEnd(tcp.bytesWritten());
        writesOnRing = true;
        kind = VSocketLink.SHM;
        host.unwatch(VSocketIoOps.OUT);
        host.flushLater();
    }

    @Override
    public boolean takesWritesBeforeClose() {
        // On tcp the kernel's send buffer takes what a close leaves; on the ring, the ring link says.
        return writesOnRing && ring.takesWritesBeforeClose();
    }

    @Override
    public void shutdownOutput() throws IOException {
        sendOfferAlone();
        if (writesOnRing) {
            ring.shutdownOutput();
        } else {
            outputShutOnTcp = true;
            tcp.shutdownOutput();
        }
    }

    // ---- reads ----

    @Override
    public ByteBuf lend(ByteBufAllocator allocator, int max) throws IOException {
        return readsOnRing ? ring.lend(allocator, max) : null;
    }

    @Override
    public int read(ByteBuf buf) throws IOException {
        if (readsOnRing) {
            return ring.read(buf);
        }
        if (offerFailure != null) {
            IOException failure = offerFailure;
            offerFailure = null;
            throw failure;
        }
        if (offerBytes != null) {
            int n = lookForOffer();
            if (offerBytes != null) {
                return n;
            }
        }
        if (held != null) {
            int n = Math.min(buf.writableBytes(), held.readableBytes());
            buf.setBytes(buf.writerIndex(), held, held.readerIndex(), n);
            held.skipBytes(n);
            tcpRead += n;
            if (!held.isReadable()) {
                held.release();
                held = null;
            }
            movedIfTcpDone();
            return n;
        }
        lookAtPeer();
        if (peerTcpEnd < 0) {
            int n = tcp.read(buf);
            if (n > 0) {
                tcpRead += n;
                return n;
            }
            if (n == 0) {
                int fromRing = ringWhileOnTcp();
                if (peerTcpEnd < 0) {
                    return fromRing;
                }
                // The peer said just now that it moved: on to its tail over tcp, or to the ring if tcp owes
                // nothing — a read that held the ring back and returned here would be the last: tcp has no
                // more to report, and the ring, held back, would not call (both streams stalled so, once).
            }
            // The end of the tcp stream: the peer's end, unless it moved onto the ring before it.
            lookAtPeer();
            if (peerTcpEnd < 0) {
                return tcpEndedBeforeTheMove();
            }
        }
        if (tcpRead < peerTcpEnd) {
            int n = tcp.read(buf, (int) Math.min(Integer.MAX_VALUE, peerTcpEnd - tcpRead));
            if (n > 0) {
                tcpRead += n;
                movedIfTcpDone();
                return n;
            }
            if (n < 0) {
                throw new RingProtocolException("the peer's tcp stream ended after " + tcpRead
                        + " bytes, but it said it moved onto shm after " + peerTcpEnd);
            }
            holdRingBack(); // the tail comes over tcp, whose readiness brings it
            return 0;
        }
        readsMoved();
        return ring.read(buf);
    }

    /**
     * The peer's tcp stream ended before it moved: its end (EOF) — or the death of its process, which the
     * kernel's end of its socket does not tell. A socket whose process dies with bytes unread resets the
     * connection, but this side's bytes since it attached went into the ring, not into the peer's socket,
     * so the kernel sends a plain end (helper-68's probe: a TLS client killed just after its connection
     * moved read, on the server, as a clean end; epoll's read "Connection reset by peer"). So: with bytes
     * of this side's unread in the ring, and the peer gone without closing the link (its end of the
     * doorbell closed by the kernel, no close mark), the read fails as that reset would. The kernel closes
     * the socket and the doorbell one after the other, so a doorbell still open is looked at again for
     * {@link #DEATH_GRACE_NANOS} before the end counts as the peer's own (a live peer that shut its output
     * over tcp, which keeps its doorbell): the read returns nothing meanwhile, and a timer reads again.
     */
    private int tcpEndedBeforeTheMove() throws IOException {
        if (shm != null && !closed) {
            int unread = shm.unreadByPeer();
            if (unread > 0 && !shm.peerClosed()) {
                if (shm.peerDropped()) {
                    throw new IOException(RingConnectionLink.PEER_DIED + "the peer's process died (or it dropped the "
                            + "connection) before its stream moved onto shm, leaving " + unread + " bytes of this "
                            + "side's unread");
                }
                long now = System.nanoTime();
                if (tcpEndedAt == 0) {
                    tcpEndedAt = now | 1; // (never 0: 0 says not yet)
                }
                if (now - tcpEndedAt < DEATH_GRACE_NANOS) {
                    awaitDeathOrNot();
                    return 0;
                }
            }
        }
        if (tcpEndedAt != 0) {
            tcpEndedAt = 0;
            tcp.readInterest(readInterest); // (it waited with the socket unwatched)
        }
        peerEndedOnTcp = true;
        return NativeSocket.EOF;
    }

    /** The socket, at its end, would report it on every poll: unwatched, and read again in a while. */
    private void awaitDeathOrNot() {
        host.unwatch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        if (deathTimer == null) {
            deathTimer = host.eventLoop().schedule(() -> {
                deathTimer = null;
                if (!closed) {
                    tcp.readInterest(readInterest); // (the end is still there: the socket reports it at once)
                }
            }, DEATH_LOOK_MICROS, TimeUnit.MICROSECONDS);
        }
    }

    /**
     * The read that took the last byte the peer sent over tcp moves the reads onto the ring at once:
     * the read loop may stop after it (its buffer not filled), and nothing would call again — tcp has no
     * more to report, and the ring's interest is held back while tcp owes bytes.
     */
    private void movedIfTcpDone() throws RingProtocolException {
        if (peerTcpEnd >= 0 && tcpRead >= peerTcpEnd) {
            readsMoved();
        }
    }

    /**
     * Whether this side's reads are on the ring, moving them there if every byte the peer sent over tcp
     * has been read (the read that finds that moves them too, and a channel leaving its loop asks).
     */
    private boolean readsMoved() throws RingProtocolException {
        if (readsOnRing) {
            return true;
        }
        if (offerBytes != null || held != null || shm == null) {
            return false;
        }
        lookAtPeer();
        if (peerTcpEnd < 0 || tcpRead < peerTcpEnd) {
            return false;
        }
        readsOnRing = true;
        // The socket is the control connection now: its end (or a dead peer) is the ring link's to see.
        host.watch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        if (ringWaits) {
            ringWaits = false;
            ring.readInterest(readInterest);
        }
        return true;
    }

    /**
     * Nothing over tcp, and the peer has not said it moved: what the ring has must wait. Ring bytes
     * before the announcement break the protocol (an honest writer announces before its first); the
     * ring's end without one is a peer that closed while still on tcp, whose end tcp brings.
     */
    private int ringWhileOnTcp() throws RingProtocolException {
        if (shm == null) {
            return 0;
        }
        boolean ringBytes = shm.readable() > 0;
        if (!ringBytes && !shm.peerOutputDone()) {
            return 0;
        }
        lookAtPeer();
        if (peerTcpEnd >= 0) {
            holdRingBack(); // it moved just now: the next read takes tcp's tail, then the ring
            return 0;
        }
        if (ringBytes) {
            throw new RingProtocolException("the peer wrote into the ring before saying where its stream left tcp");
        }
        holdRingBack();
        return 0;
    }

    private void holdRingBack() {
        if (!ringWaits && ring != null) {
            ringWaits = true;
            ring.readInterest(false);
        }
    }

    /** Learns where the peer's stream leaves tcp, if it said (and the client moves its own writes, if it may). */
    private void lookAtPeer() throws RingProtocolException {
        if (peerTcpEnd >= 0 || shm == null) {
            return;
        }
        long end = shm.peerTcpEnd();
        if (end < 0) {
            return;
        }
        if (end < tcpRead) {
            throw new RingProtocolException("the peer says its stream left tcp after " + end + " bytes, but "
                    + tcpRead + " came over tcp");
        }
        peerTcpEnd = end;
    }

    /** Client: the server attached: this side writes into the ring from now on (unless its output was shut). */
    private void lookAtServer() {
        if (shm == null || closed || !shm.peerAttached()) {
            return;
        }
        if (kind != VSocketLink.SHM) {
            logger.debug("{}: the server attached the shared memory: moving onto shm", host);
        }
        kind = VSocketLink.SHM;
        if (!writesOnRing && !outputShutOnTcp && !peerEndedOnTcp) {
            moveWrites();
        }
    }

    /**
     * Client: reads the server's first bytes until its offer is off their front, or they are no offer
     * (a plain server's own bytes, or the magic followed by no possible header: the connection stays on
     * tcp, the bytes are the application's). An offer this side cannot take (another hello version's, or
     * a broken one) comes off the stream whole, and the connection stays on tcp. Returns 0, or EOF when
     * the stream ended before any byte.
     */
    private int lookForOffer() throws IOException {
        int n = socket.read(Scratch.address(), Scratch.SIZE);
        if (n > 0) {
            offerBytes.writeBytes(Scratch.segment().asSlice(0, n).asByteBuffer());
        }
        if (!offerBytes.isReadable()) {
            if (n < 0) {
                offerDone(null, "closed without a byte");
                return NativeSocket.EOF;
            }
            return 0;
        }
        if (!Hello.startsLikeHello(offerBytes)) {
            offerDone(null, "answered with its own bytes: a plain server");
            return 0;
        }
        Hello.Message message;
        try {
            message = Hello.decode(offerBytes);
        } catch (HelloException e) {
            if (offerBytes.readableBytes() >= Hello.HEADER && Hello.bodyLength(offerBytes) <= Hello.MAX_BODY) {
                // A whole header: a vsocket message this side cannot read (another version's offer). Off the
                // stream with it, once whole: the server's own bytes come behind it.
                if (Hello.bytesMissing(offerBytes) > 0) {
                    return waitForTheOffersRest(n);
                }
                offerBytes.skipBytes(Hello.HEADER + Hello.bodyLength(offerBytes));
                logger.info("{}: the server's offer is one this side cannot take ({}): staying on tcp", host,
                        e.getMessage());
                offerDone(null, null);
                return 0;
            }
            logger.info("{}: the server's first bytes began like a vsocket offer but are none ({}): staying on tcp, "
                    + "the bytes go to the application", host, e.getMessage());
            offerDone(null, null);
            return 0;
        }
        if (message == null) {
            return waitForTheOffersRest(n);
        }
        if (!(message instanceof Hello.ServerHello offer)) {
            logger.info("{}: the server sent a vsocket {} where its offer belongs: staying on tcp", host,
                    message.getClass().getSimpleName());
            offerDone(null, null);
            return 0;
        }
        offerDone(offer, null);
        return 0;
    }

    /** Client: part of an offer came ({@code n}: what the last read returned); the rest comes before any byte of the server's own. */
    private int waitForTheOffersRest(int n) {
        if (n < 0) {
            offerDone(null, "closed in the middle of its offer");
        } else if (offerStallTimer == null) {
            offerStallTimer = host.eventLoop().schedule(this::offerStalled, config.getHelloTimeoutMillis(),
                    TimeUnit.MILLISECONDS);
        }
        return 0;
    }

    /**
     * Client: part of an offer, and nothing more within the hello timeout. Less than the magic is a plain
     * server's greeting ({@link Hello#partOfTheMagicOnly}): the application's, now (such bytes were held
     * till more came, and a client that waits for the greeting before it writes waited for good). The
     * whole magic and more (a hung or broken vsocket server): said once; the connection is on tcp
     * already, and what the server sends after the offer's rest, should it come, is the application's.
     */
    private void offerStalled() {
        offerStallTimer = null;
        if (offerBytes == null || !offerBytes.isReadable() || closed) {
            return;
        }
        if (Hello.partOfTheMagicOnly(offerBytes)) {
            offerDone(null, "sent " + offerBytes.readableBytes() + " bytes that only began like an offer: a plain server");
            if (!readInterest) {
                tcp.readInterest(false); // (kept for the offer till now)
            }
            readHeldLater();
        } else {
            logger.info("{}: the server's vsocket offer stopped after {} bytes and nothing more came within {} ms: "
                    + "going on over tcp (the offer's rest is taken off the stream should it come)", host,
                    offerBytes.readableBytes(), config.getHelloTimeoutMillis());
        }
    }

    private void offerDone(Hello.ServerHello offer, String plain) {
        offerStallTimer = cancel(offerStallTimer);
        ByteBuf rest = offerBytes;
        offerBytes = null;
        if (rest.isReadable()) {
            held = rest;
        } else {
            rest.release();
        }
        if (offer == null) {
            if (plain != null) {
                logger.debug("{}: the server {}: staying on tcp", host, plain);
            }
            return;
        }
        byte[] part = offer.parts().get(VSocketLink.SHM);
        if (part == null) {
            logger.debug("{}: staying on tcp: the server offers {}", host, offer.links());
            return;
        }
        ShmHello.OfferPart shm;
        try {
            shm = ShmHello.OfferPart.read(Unpooled.wrappedBuffer(part));
        } catch (HelloPartException e) {
            logger.info("{}: the server's shm offer is broken ({}): staying on tcp", host, e.getMessage());
            return;
        }
        String why = ShmHello.whyNot(shm, offer.ringSize());
        if (why != null) {
            logger.debug("{}: staying on tcp: {}", host, why);
            return;
        }
        token = offer.token();
        serverRing = offer.ringSize();
        rendezvousName = shm.rendezvous();
        try {
            setUpTimer = host.eventLoop().schedule(this::setUpShm, SET_UP_DELAY_MICROS, TimeUnit.MICROSECONDS);
        } catch (RejectedExecutionException e) {
            logger.debug("{}: the loop is shutting down: staying on tcp", host);
            token = null;
        }
    }

    /** Client: the connection lived past the delay: the memory is made off the loop. */
    private void setUpShm() {
        setUpTimer = null;
        if (closed) {
            return;
        }
        if (!offTheLoop(this::makeShm, this::shmMade)) {
            logger.debug("{}: cannot make the shared memory now: staying on tcp", host);
            token = null; // no move to come
        }
    }

    /** Client, off the loop: makes the shared memory and sends it to the server's rendezvous; null if it cannot. */
    private ShmLink makeShm() {
        try {
            return ShmRendezvous.handOver(rendezvousName, token, config.getRingSize(VSocketLink.SHM), serverRing);
        } catch (IOException e) {
            logger.debug("{}: {}: staying on tcp", host, e.getMessage());
            return null;
        }
    }

    /**
     * Runs {@code work} on Netty's global executor, then hands what it made to {@code done} on this
     * connection's loop (closed instead if the loop no longer takes tasks), null if it made nothing.
     * Shared memory's system calls (some 100-300 µs a set-up) would otherwise hold up the loop's other
     * connections. False if the global executor refused the work.
     */
    private boolean offTheLoop(Supplier<ShmLink> work, Consumer<ShmLink> done) {
        try {
            GlobalEventExecutor.INSTANCE.execute(() -> {
                ShmLink made = work.get();
                try {
                    host.eventLoop().execute(() -> done.accept(made));
                } catch (RejectedExecutionException e) {
                    if (made != null) {
                        made.close();
                    }
                }
            });
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** Client, on the loop: watches the ring, and moves once the server says it attached. */
    private void shmMade(ShmLink made) {
        if (made == null) {
            token = null; // staying on tcp (makeShm said why): no move to come
            return;
        }
        if (closed) {
            made.close();
            return;
        }
        shm = made;
        startRing();
        ring.onDoorbell(this::lookAtServer);
        lookAtServer();
    }

    /** Server: on the rendezvous's loop; the memory is mapped off the loops, then handed to this connection's. */
    private void descriptorsSent(int[] fds) {
        if (FileDescriptors.pastHalfTheLimit(fds[1])) {
            // The doorbell would be this connection's second descriptor: past half the limit, the rest are
            // kept for accepts (helper-64's probe: at 300, the shm links' descriptors took those that 47 of 150
            // connections needed, which epoll's server accepted). The connection stays on tcp.
            logger.debug("{}: past half the process's descriptor limit: staying on tcp", host);
            PeerDescriptors.close(fds);
            return;
        }
        if (!offTheLoop(() -> mapShm(fds), this::attach)) {
            PeerDescriptors.close(fds);
        }
    }

    /** Server, off the loop: maps the client's memory; null if it cannot. */
    private ShmLink mapShm(int[] fds) {
        try {
            return ShmLink.attach(fds[0], fds[1], 0, config.getRingSize(VSocketLink.SHM));
        } catch (IOException | RuntimeException e) {
            // Said once at INFO: under memory pressure every connection meets it (helper-64's probe: 909 lines
            // for 909 connections, each of which goes on over tcp as it should).
            if (MAP_FAILURE_SAID.compareAndSet(false, true)) {
                logger.info("{}: cannot map the client's shared memory ({}): staying on tcp (said once; the rest at "
                        + "DEBUG)", host, e.getMessage());
            } else {
                logger.debug("{}: cannot map the client's shared memory ({}): staying on tcp", host, e.getMessage());
            }
            return null;
        }
    }

    /** Server, on the loop: starts the ring link, moves this side's writes onto it and tells the client. */
    private void attach(ShmLink mapped) {
        if (mapped == null) {
            return; // staying on tcp (mapShm said why)
        }
        if (closed || shm != null || !started) {
            mapped.close();
            return;
        }
        shm = mapped;
        patience = cancel(patience);
        startRing();
        kind = VSocketLink.SHM;
        if (!outputShutOnTcp && !peerEndedOnTcp) {
            moveWrites();
        }
        // After the tcp end: a client that sees the one reads the other.
        shm.markAttached();
        shm.signalPeer();
    }

    /** The ring link under the channel, with the channel's read interest; tcp keeps reading until it is done. */
    private void startRing() {
        ring = new ShmConnectionLink(host, socket, config, shm);
        ring.failWaitingWritesOnPeerClose();
        ring.start(readInterest);
        if (!readInterest) {
            host.unwatch(VSocketIoOps.IN); // (the ring link watches the control connection; tcp still carries bytes)
        }
    }

    /**
     * Client: takes the offer off the server's first bytes before the channel reads, so that the
     * application never sees a read that brought it nothing. True when the channel should handle the
     * readiness as usual (bytes for it, or the stream's end), false when it was the hello's alone.
     */
    private boolean offerRead() {
        int n;
        try {
            n = lookForOffer();
        } catch (IOException e) {
            // A read's failure (the server reset the connection), which the channel's read meets as epoll's
            // does: reported, then the input shut where half-closure is allowed, else a close. Failing the
            // channel here closed it even where the application had asked to keep it open (helper-69's
            // probe: AUTO_CLOSE off and half-closure on, a server that reset right after its accept: closed
            // in 3 of 5 runs, where epoll's client and this one past the offer stay open).
            offerFailure = e;
            return true;
        } catch (RuntimeException e) {
            host.failed(e);
            return false;
        }
        if (offerBytes != null) {
            return n < 0; // the end, before the offer was whole (or before any byte): the channel reads it
        }
        if (!readInterest) {
            tcp.readInterest(false);
            return false; // what came behind the offer waits for the application's read
        }
        // Only bytes behind the offer make a read (more in the socket: epoll reports them again).
        return held != null;
    }

    @Override
    public void readInterest(boolean wanted) {
        readInterest = wanted;
        if (ring != null && !ringWaits) {
            ring.readInterest(wanted);
        }
        if (!readsOnRing) {
            if (tcpEndedAt == 0) {
                tcp.readInterest(wanted || offerBytes != null); // (a client keeps reading for the offer)
            } else if (wanted) {
                awaitDeathOrNot(); // a socket at its end, not yet told from a death: its timer reads again
            }
        }
        if (wanted) {
            readHeldLater();
        }
    }

    /**
     * Whether bytes of the peer's stream that came over tcp lie unread: held off the socket, or (with the
     * ring made, reads still on tcp) in the socket before the peer's tcp end, or before it was announced.
     */
    private boolean peersBytesUnreadBeforeTheRing() {
        if (held != null && held.isReadable()) {
            return true;
        }
        if (ring == null || readsOnRing) {
            return false; // (without the ring, the socket's own close resets where bytes lie unread)
        }
        try {
            lookAtPeer(); // (its tcp end may be announced and not yet seen: what lies behind it is control)
        } catch (RingProtocolException e) {
            return true; // a peer that contradicts itself: no clean end for it
        }
        if (peerTcpEnd >= 0) {
            return tcpRead < peerTcpEnd;
        }
        try {
            return socket.isOpen() && socket.peek(Scratch.address(), 1) > 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** Bytes already off the socket, which epoll will not report: read from a task. */
    private void readHeldLater() {
        if (held != null) {
            host.eventLoop().execute(() -> {
                if (held != null && readInterest && !closed) {
                    host.readReady();
                }
            });
        }
    }

    @Override
    public void socketReady(VSocketIoEvent event) {
        if (offerBytes != null && (event.isReadable() || event.isHangUp()) && !offerRead()) {
            if (event.isWritable()) {
                host.flushReady();
            }
            return;
        }
        if (!readsOnRing) {
            tcp.socketReady(event); // the channel's own handling: reads, writability, hang-up
            return;
        }
        if (!writesOnRing && event.isWritable()) {
            host.unwatch(VSocketIoOps.OUT);
            host.flushReady();
        }
        if (event.isReadable() || event.isHangUp()) {
            ring.socketReady(event);
        }
    }

    @Override
    public void shutdownInput() throws IOException {
        if (ring != null) {
            ring.shutdownInput();
        }
        // Not the socket's input: once the peer moves, it is the control connection, which must report its end.
    }

    /**
     * Only once the move is over: both directions on the ring, or (a client) the offer read and no
     * move to come. Till then its timers, the set-up off the loop and the server's rendezvous hand
     * their results to this loop; a server whose client never moves stays with it.
     */
    @Override
    public boolean leaveLoop() {
        if (closed || patience != null || offerStallTimer != null || offerTimer != null || setUpTimer != null
                || offerBytes != null || offerOut != null || held != null) {
            return false;
        }
        if (ring != null) {
            try {
                return writesOnRing && readsMoved() && ring.leaveLoop();
            } catch (RingProtocolException e) {
                return false; // the next read finds it
            }
        }
        return client && shm == null && token == null && !ringWaits && tcp.leaveLoop();
    }

    @Override
    public void loopJoined() {
        if (ring != null) {
            ring.loopJoined();
        } else {
            tcp.loopJoined();
        }
    }

    @Override
    public long bytesSentInPlace() {
        return ring != null ? ring.bytesSentInPlace() : 0;
    }

    @Override
    public long bytesReceivedInPlace() {
        return ring != null ? ring.bytesReceivedInPlace() : 0;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        patience = cancel(patience);
        offerStallTimer = cancel(offerStallTimer);
        offerTimer = cancel(offerTimer);
        setUpTimer = cancel(setUpTimer);
        deathTimer = cancel(deathTimer);
        if (rendezvous != null) {
            rendezvous.forget(token);
        }
        if (peersBytesUnreadBeforeTheRing()) {
            // As a socket's close with bytes unread in its receive queue: a reset, so the peer knows its last
            // bytes were not taken. The ring's own close sees only the ring's bytes, and its clean end mark,
            // read first, hid the kernel's reset of the socket (a probe: bytes sent before the move, unread,
            // then a close: a clean end, where epoll's peer read "Connection reset by peer").
            RingConnectionLink.makeCloseAbortive(socket, host);
        }
        if (offerBytes != null) {
            // The offer may still come (or lie unread): keep the connection for it, so that it does
            // not reset the connection under the bytes this side still has to send.
            ByteBuf soFar = offerBytes;
            offerBytes = null;
            if (!OfferDrain.start(socket, soFar, config.getHelloTimeoutMillis())) {
                soFar.release();
            }
        }
        if (offerOut != null) {
            offerOut.release();
            offerOut = null;
        }
        if (held != null) {
            held.release();
            held = null;
        }
        if (ring != null) {
            ring.close();
        } else if (shm != null) {
            shm.close();
        }
        tcp.close();
    }

    /** Cancels a timer if there is one; null, for the field that held it. */
    private static Future<?> cancel(Future<?> timer) {
        if (timer != null) {
            timer.cancel(false);
        }
        return null;
    }

    @Override
    public String toString() {
        // Where the move stands (a stalled stream's first question): each direction's side, and tcp's tail.
        return "ShmUpgradeLink(" + kind + ", writes on " + (writesOnRing ? "ring" : "tcp") + ", reads on "
                + (readsOnRing ? "ring" : "tcp") + ", tcp read " + tcpRead + " of " + (peerTcpEnd < 0 ? "?" : peerTcpEnd)
                + (ringWaits ? ", ring held back" : "") + ", " + host + ")";
    }
}
