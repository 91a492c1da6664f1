package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.verbs.Gid;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.collections.Object2ObjectHashMap;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;

/**
 * Learns how to reach a datagram channel's peers other than by UDP, over the channel's own UDP
 * socket, as the vsocket paper has Linux UDP assist routing: their UD endpoints, and whether a peer
 * on this host takes datagrams over shared memory. Tells by the token in each UD datagram (or shm
 * set-up) which UDP peer sent it. Pure Java: the caller passes the time, sends what this asks it to
 * send ({@link UdpSender}) and hands in what the UDP socket receives; the UD side is behind
 * {@link Local}, the shm side behind {@link ShmSide}.
 *
 * <h2>Wire format</h2>
 * Three messages, each one UDP datagram of exactly 54 bytes, network byte order:
 * <pre>
 * REQUEST  0  magic           8  ASCII "VSOCKUD1"
 *          8  type            1  1
 *          9  nonce           8  random; the reply must echo it
 *         17  GID            16  the requester's UD endpoint: its RoCE GID,
 *         33  QPN             4    queue pair number (24 bits),
 *         37  Q_Key           4    Q_Key (bit 31 clear),
 *         41  max payload     4    and the largest payload it receives; all 28 bytes zero: none
 *         45  flags           1  bit 0 (SHM): the requester found the responder's shm rendezvous on
 *                              its host and asks to send over shared memory; other bits zero
 *         46  padding         8  zero, ignored: a request is as long as a reply, so answering
 *                              a request with a forged source sends no more bytes than came in
 * REPLY    0  magic           8  ASCII "VSOCKUD1"
 *          8  type            1  2
 *          9  nonce           8  the request's
 *         17  token           8  what the requester puts in the header of every UD datagram to the
 *                              responder (see {@link UdHeader}), and in its shm set-up; never 0
 *         25  GID            16  the responder's UD endpoint, as in the request (zero: none)
 *         41  QPN             4
 *         45  Q_Key           4
 *         49  max payload     4
 *         53  flags           1  bit 0 (SHM): the responder waits at its rendezvous for the
 *                              requester's shared memory, presented with this token and nonce;
 *                              bits 1-3, with SHM only: the size of the ring the responder reads
 *                              the requester's datagrams from, 256 KiB shifted left by them (its
 *                              receive buffer: an application that enlarges SO_RCVBUF to ride out
 *                              a burst gets a ring that holds it); other bits zero
 * GONE     0  magic           8  ASCII "VSOCKUD1"
 *          8  type            1  3: the sender's UD endpoint closed ({@link #goodbye})
 *          9  zero            8
 *         17  token           8  the token the sender handed the recipient: only then is it believed
 *         25  padding        29  zero
 * </pre>
 * The request carries the requester's endpoint so that the responder can check, for every UD
 * datagram that presents the token, that it comes from that queue pair at that GID. The max payload
 * fields let two sides with different path MTUs agree (a route carries the smaller). A request
 * must ask for something (an endpoint, or shm) and a reply must offer something the request asked
 * for; the responder answers only what it can serve.
 *
 * <h2>Which UDP datagrams are resolution messages</h2>
 * One that starts with the magic and a known type and has exactly that type's length is consumed
 * ({@link #onUdpDatagram} returns true) and never reaches the application, valid or not. One that
 * starts with the magic and a known type but has another length is not a resolution message (an
 * application's datagram may start with any 9 bytes): it is counted as {@link #rejected()} and left
 * to the application, as is everything else.
 *
 * <h2>Rules</h2>
 * <ul>
 * <li>Outbound ({@link #routeTo}): a peer not yet known gets a REQUEST, and datagrams to it go over
 * UDP meanwhile; at most one request per peer is out. A REPLY is taken only from the address asked,
 * echoing the nonce sent, within the request timeout, with possible fields (QPN 2 to 2^24-1, Q_Key
 * bit 31 clear, GID neither zero nor multicast, max payload 1 to 65536, token not 0); anything else
 * is ignored and counted ({@link #rejected()}). A request unanswered within the timeout makes the
 * peer UDP-only for a backoff (5 s, doubling up to 5 min), after which it is asked again. A resolved
 * route is refreshed once it is {@code refreshAfter} old, while the old route stays in use; if the
 * refresh goes unanswered the peer falls back to UDP (and the backoff), and a route that was never
 * refreshed expires at {@code routeLifetime}.</li>
 * <li>Inbound: a valid REQUEST is answered with a REPLY carrying this side's endpoint and a token
 * drawn from a {@link SecureRandom}, for that requester's UDP address and the endpoint its request
 * announced; a requester that keeps asking with the same endpoint keeps its token, and a token is
 * forgotten {@code inboundLifetime} after its last request (longer than a requester uses a route
 * without refreshing it). A request announcing another endpoint from the same address (the
 * requester reopened its queue pair, or someone forged its address) gets a token of its own and
 * leaves the earlier one alone until it expires, so a forged request cannot take a requester's
 * token away. At most one reply per requester address per {@code replyInterval}, never a reply to
 * a reply, and no more live tokens than the table holds ({@link #repliesLimited()} counts what was
 * not answered).</li>
 * <li>{@link #senderOf}: a UD datagram names its UDP sender by its token, and is believed only when
 * it also comes from the queue pair and GID its requester announced ({@link #injectedDropped()}
 * counts the rest). The token is a capability against off-path forgery, as unguessable as a
 * 64-bit random number; whoever sees the UDP exchange can forge UD datagrams as it could forge UDP
 * ones.</li>
 * </ul>
 * Both sides must run with compatible {@link Config}s (the defaults): nothing on the wire says how
 * long a token lives. Event-loop thread only; nothing is allocated after a peer's first exchange but
 * a new route when a peer's endpoint changes.
 */
public final class PeerResolver {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(PeerResolver.class);
    /** "VSOCKUD1" in ASCII. */
    static final long MAGIC = 0x56534f434b554431L;
    static final byte REQUEST = 1;
    static final byte REPLY = 2;
    static final byte GONE = 3;
    static final int LENGTH = 54;
    /** The flags bit that asks for (request) or offers (reply) the shm path. */
    static final int SHM = 1;
    /** The reply's flags bits that size the responder's shm receive ring (see the wire format). */
    static final int SHM_RING_BITS = 0x0e;
    /** The smallest shm receive ring a reply can ask for, and the unit of its size's shift. */
    public static final int SHM_RING_UNIT = 256 * 1024;
    /** The largest shift a reply's ring bits can say (32 MiB). */
    public static final int MAX_SHM_RING_SHIFT = 7;
    private static final int REQUEST_FLAGS_AT = 45;
    private static final int REPLY_FLAGS_AT = 53;
    private static final int TYPE_AT = 8;
    private static final int NONCE_AT = 9;
    private static final int REQUEST_ENDPOINT_AT = 17;
    private static final int TOKEN_AT = 17;
    private static final int REPLY_ENDPOINT_AT = 25;
    /** Within an endpoint's fields: GID, QPN, Q_Key, max payload. */
    private static final int QPN = 16;
    private static final int QKEY = 20;
    private static final int MAX_PAYLOAD = 24;
    private static final int MAX_QPN = 0xff_ffff;
    private static final int MAX_PAYLOAD_LIMIT = 65536;
    /**
     * How often an unanswered request is sent again within its timeout (at a third and two thirds of
     * it, when the peer is asked for then): one lost datagram must not cost a peer the backoff.
     */
    static final int RESENDS = 2;

    /** Sends a resolution message over the channel's UDP socket. */
    @FunctionalInterface
    public interface UdpSender {
        /**
         * Sends the readable bytes of {@code message} to {@code recipient}. The buffer is the
         * resolver's and is reused: copy it before returning. Must not throw (a message that cannot
         * go is lost, as UDP loses it).
         */
        void send(InetSocketAddress recipient, ByteBuf message);
    }

    /** This side's UD endpoint, as the resolver offers it and makes routes with it ({@link UdEndpoint}). */
    public interface Local {
        Gid gid();

        int qpNumber();

        int qkey();

        /** The largest payload this side receives. */
        int maxPayload();

        /** A route to that endpoint; throws when none can be made (the peer stays on UDP). */
        UdRoute route(Gid gid, int qpNumber, int qkey, int peerMaxPayload) throws IOException;
    }

    /**
     * This side's shm path: it can take a same-host peer's shared memory at its rendezvous. The
     * resolver only says so in its replies to requests that ask; the rendezvous itself (an abstract
     * Unix socket, found by the requester before it asks) is the channel's.
     */
    public interface ShmSide {
        /** Whether {@code requester} may be offered shm: only a process on this host can map this side's memory. */
        boolean offersTo(InetSocketAddress requester);

        /**
         * A peer this side asked for shm offered it (a first resolution or a refresh): set up the
         * link now rather than at the next datagram.
         */
        void offered(PeerRoute peer);

        /**
         * The ring this side reads a new link's datagrams from, as a shift of {@link #SHM_RING_UNIT}
         * from 0 to {@link #MAX_SHM_RING_SHIFT}: what its next shm offer asks the requester to make.
         */
        default int receiveRingShift() {
            return 0;
        }

        /**
         * A reply offering shm goes to {@code requester}: wait at the rendezvous for its shared
         * memory, presented with {@code token} and the request's {@code nonce}, its ring for this
         * side {@code SHM_RING_UNIT << ringShift} bytes.
         */
        void expect(InetSocketAddress requester, long token, long nonce, int ringShift);
    }

    /**
     * How long things live, in nanoseconds, and how many peers are kept. {@code refreshAfter} plus
     * the request timeout must fit in {@code routeLifetime}, and {@code inboundLifetime} must exceed
     * {@code routeLifetime} plus the request timeout, so a token outlives every route that uses it.
     */
    public record Config(long requestTimeout, long refreshAfter, long routeLifetime, long inboundLifetime,
                         long firstBackoff, long maxBackoff, long replyInterval, int maxPeers, int maxInbound) {
        /**
         * The defaults; the request timeout (1 s) from {@code io.vsocket.udResolveTimeoutMillis}
         * where a network (or an emulator) answers slower, up to 20 s.
         */
        public static final Config DEFAULT = new Config(TimeUnit.MILLISECONDS.toNanos(
                Math.min(20_000, Math.max(1, Long.getLong("io.vsocket.udResolveTimeoutMillis", 1000)))),
                TimeUnit.SECONDS.toNanos(30),
                TimeUnit.SECONDS.toNanos(60), TimeUnit.SECONDS.toNanos(150), TimeUnit.SECONDS.toNanos(5),
                TimeUnit.MINUTES.toNanos(5), TimeUnit.MILLISECONDS.toNanos(100), 4096, 4096);

        public Config {
            if (requestTimeout <= 0 || refreshAfter <= 0 || firstBackoff <= 0 || maxBackoff < firstBackoff
                    || replyInterval < 0 || maxPeers <= 0 || maxInbound <= 0) {
                throw new IllegalArgumentException("durations and limits must be positive: " + this);
            }
            if (refreshAfter + requestTimeout > routeLifetime || inboundLifetime <= routeLifetime + requestTimeout) {
                throw new IllegalArgumentException("a refresh must be answered before its route expires, and a token "
                        + "must outlive the routes that use it: " + this);
            }
        }
    }

    /** A token this side handed out: to which UDP address, and the endpoint its datagrams must come from. */
    private static final class Inbound {
        final InetSocketAddress address;
        final long token;
        final int qpNumber;
        final long gidHigh;
        final long gidLow;
        long expiresAt;
        long repliedAt;

        Inbound(InetSocketAddress address, long token, int qpNumber, long gidHigh, long gidLow) {
            this.address = address;
            this.token = token;
            this.qpNumber = qpNumber;
            this.gidHigh = gidHigh;
            this.gidLow = gidLow;
        }

        boolean announced(int qpNumber, long gidHigh, long gidLow) {
            return this.qpNumber == qpNumber && this.gidHigh == gidHigh && this.gidLow == gidLow;
        }
    }

    private final Local local;
    private final ShmSide shm;
    private final UdpSender sender;
    private final RandomGenerator random;
    private final Config config;
    /** This side's GID, as written into every message. */
    private final long localGidHigh;
    private final long localGidLow;
    private final Object2ObjectHashMap<InetSocketAddress, PeerRoute> peers = new Object2ObjectHashMap<>();
    /** Every live token. */
    private final Long2ObjectHashMap<Inbound> inboundByToken = new Long2ObjectHashMap<>();
    /** The latest token of each requester address (earlier ones stay in the token table until they expire). */
    private final Object2ObjectHashMap<InetSocketAddress, Inbound> inboundByAddress = new Object2ObjectHashMap<>();
    private final ByteBuf message = Unpooled.buffer(LENGTH, LENGTH);
    private long requestsSent;
    private long repliesSent;
    private long resolved;
    private long rejected;
    private long peersMoved;
    private long resent;
    private long injectedDropped;
    private long repliesLimited;
    private long unanswered;
    private long gone;

    /** The default source of tokens and nonces: one per process (thread-safe), seeded once rather than per channel. */
    private static final class DefaultRandom {
        static final SecureRandom INSTANCE = new SecureRandom();
    }

    /** A resolver for {@code local} and {@code shm} with the {@link Config#DEFAULT default} timing and the process's {@link SecureRandom}. */
    public PeerResolver(Local local, ShmSide shm, UdpSender sender) {
        this(local, shm, sender, DefaultRandom.INSTANCE, Config.DEFAULT);
    }

    /** A resolver of UD endpoints only. */
    public PeerResolver(Local local, UdpSender sender, RandomGenerator random, Config config) {
        this(local, null, sender, random, config);
    }

    /**
     * {@code local} and {@code shm} may be null: a channel with neither still consumes resolution
     * messages (they never reach its application) and answers none. Asking a peer for shm needs no
     * {@code shm} side (only taking a peer's shared memory does). {@code random} makes the tokens
     * and nonces: a {@link SecureRandom} outside tests.
     */
    public PeerResolver(Local local, ShmSide shm, UdpSender sender, RandomGenerator random, Config config) {
        this.local = local;
        this.shm = shm;
        this.sender = sender;
        this.random = random;
        this.config = config;
        this.localGidHigh = local != null ? Gids.high(local.gid()) : 0;
        this.localGidLow = local != null ? Gids.low(local.gid()) : 0;
    }

    /** {@link #routeTo(InetSocketAddress, long, boolean)} without asking for shm. */
    public PeerRoute routeTo(InetSocketAddress peer, long now) {
        return routeTo(peer, now, false);
    }

    /**
     * What is known of {@code peer} when it is resolved (a UD {@link PeerRoute#route() route},
     * or {@link PeerRoute#shm() shm} offered), or null: send over UDP. Asks the peer (through the
     * {@link UdpSender}) when it is not known, when its resolution is due for a refresh (the old
     * one is still returned), or when its backoff has passed; {@code askShm} (the caller found the
     * peer's rendezvous on this host) asks it for shm too. Without a UD endpoint a peer is asked
     * only with {@code askShm}: there is nothing else to ask for.
     */
    public PeerRoute routeTo(InetSocketAddress peer, long now, boolean askShm) {
        if (local == null && !askShm) {
            return null;
        }
        PeerRoute p = peers.get(peer);
        if (p == null) {
            if (peers.size() >= config.maxPeers() && sweepPeers(now) == 0) {
                return null;
            }
            p = new PeerRoute(peer, config.firstBackoff());
            peers.put(peer, p);
        }
        p.lastUsed = now;
        p.askShm = askShm;
        if (p.pending && p.resends < RESENDS && now - p.sentAt >= resendIntervalNanos()
                && now - p.requestedAt < config.requestTimeout()) {
            // No answer yet: the request or its reply may have been lost (UDP). Ask again, same nonce.
            resend(p, now);
        }
        if (p.pending && now - p.requestedAt >= config.requestTimeout()) {
            // Unanswered, a first request or a refresh: UDP only, until the backoff has passed.
            unanswered++;
            p.pending = false;
            p.route = null;
            p.shm = false;
            p.negative = true;
            p.retryAt = now + p.backoff;
            p.backoff = Math.min(p.backoff * 2, config.maxBackoff());
        }
        if (p.isResolved() && now - p.resolvedAt >= config.routeLifetime()) {
            p.route = null;
            p.shm = false;
        }
        if (p.isResolved()) {
            if (!p.pending && now - p.resolvedAt >= config.refreshAfter()) {
                request(p, now);
            }
            return p;
        }
        if (!p.pending && (!p.negative || now - p.retryAt >= 0)) {
            request(p, now);
        }
        return null;
    }

    private void request(PeerRoute p, long now) {
        p.pending = true;
        p.nonce = random.nextLong();
        p.askedShm = p.askShm;
        p.requestedAt = now;
        p.resends = 0;
        send(p, now);
    }

    private void resend(PeerRoute p, long now) {
        p.resends++;
        resent++;
        send(p, now);
    }

    private void send(PeerRoute p, long now) {
        p.sentAt = now;
        message.clear();
        message.writeLong(MAGIC).writeByte(REQUEST).writeLong(p.nonce);
        writeLocalEndpoint();
        message.writeByte(p.askedShm ? SHM : 0);
        message.writeZero(LENGTH - message.writerIndex());
        requestsSent++;
        sender.send(p.address, message);
    }

    /** This side's UD endpoint, or 28 zero bytes without one. */
    private void writeLocalEndpoint() {
        if (local == null) {
            message.writeZero(ENDPOINT_LENGTH);
            return;
        }
        message.writeLong(localGidHigh).writeLong(localGidLow)
                .writeInt(local.qpNumber()).writeInt(local.qkey()).writeInt(local.maxPayload());
    }

    /** GID, QPN, Q_Key, max payload. */
    private static final int ENDPOINT_LENGTH = 28;

    /**
     * A datagram arrived on the UDP socket from {@code from}: true when it is a resolution message
     * (then it is handled here and must not reach the application), false when it is the
     * application's. The buffer's indexes do not move.
     */
    public boolean onUdpDatagram(InetSocketAddress from, ByteBuf content, long now) {
        int at = content.readerIndex();
        int length = content.readableBytes();
        if (length < TYPE_AT + 1 || content.getLong(at) != MAGIC) {
            return false;
        }
        byte type = content.getByte(at + TYPE_AT);
        if (type != REQUEST && type != REPLY && type != GONE) {
            return false;
        }
        if (length != LENGTH) {
            rejected++; // truncated or padded: not ours, the application may make of it what it will
            return false;
        }
        if (type == REQUEST) {
            onRequest(from, content, at, now);
        } else if (type == GONE) {
            onGone(from, content.getLong(at + TOKEN_AT), now);
        } else {
            onReply(from, content, at, now);
        }
        return true;
    }

    private void onRequest(InetSocketAddress from, ByteBuf content, int at, long now) {
        if (local == null && shm == null) {
            return;
        }
        int endpoint = at + REQUEST_ENDPOINT_AT;
        long gidHigh = content.getLong(endpoint);
        long gidLow = content.getLong(endpoint + 8);
        int qpNumber = content.getInt(endpoint + QPN);
        int qkey = content.getInt(endpoint + QKEY);
        int maxPayload = content.getInt(endpoint + MAX_PAYLOAD);
        int flags = content.getUnsignedByte(at + REQUEST_FLAGS_AT);
        boolean hasEndpoint = !none(gidHigh, gidLow, qpNumber, qkey, maxPayload);
        if (hasEndpoint && impossible(gidHigh, gidLow, qpNumber, qkey, maxPayload) || (flags & ~SHM) != 0
                || !hasEndpoint && flags == 0) {
            rejected++;
            return;
        }
        boolean offerShm = shm != null && (flags & SHM) != 0 && shm.offersTo(from);
        if (!offerShm && (local == null || !hasEndpoint)) {
            return; // nothing this side serves was asked for: no answer, as from a plain UDP peer
        }
        Inbound in = inboundByAddress.get(from);
        if (in != null && now - in.expiresAt >= 0) {
            forget(in);
            in = null;
        }
        if (in != null && now - in.repliedAt < config.replyInterval()) {
            repliesLimited++;
            return;
        }
        if (in == null || !in.announced(qpNumber, gidHigh, gidLow)) {
            if (inboundByToken.size() >= config.maxInbound() && sweepInbound(now) == 0) {
                repliesLimited++;
                return;
            }
            in = new Inbound(from, newToken(), qpNumber, gidHigh, gidLow);
            inboundByToken.put(in.token, in);
            inboundByAddress.put(from, in);
        }
        in.expiresAt = now + config.inboundLifetime();
        peerMoved(from, gidHigh, gidLow, qpNumber, now);
        in.repliedAt = now;
        long nonce = content.getLong(at + NONCE_AT);
        message.clear();
        message.writeLong(MAGIC).writeByte(REPLY).writeLong(nonce).writeLong(in.token);
        writeLocalEndpoint();
        int ringShift = offerShm ? Math.max(0, Math.min(MAX_SHM_RING_SHIFT, shm.receiveRingShift())) : 0;
        message.writeByte(offerShm ? SHM | ringShift << 1 : 0);
        repliesSent++;
        if (offerShm) {
            shm.expect(from, in.token, nonce, ringShift);
        }
        sender.send(from, message);
    }

    private long newToken() {
        long token;
        do {
            token = random.nextLong();
        } while (token == 0 || inboundByToken.containsKey(token));
        return token;
    }

    private void onReply(InetSocketAddress from, ByteBuf content, int at, long now) {
        PeerRoute p = peers.get(from);
        if (p == null || !p.pending || p.nonce != content.getLong(at + NONCE_AT)
                || now - p.requestedAt >= config.requestTimeout()) {
            rejected++;
            return;
        }
        long token = content.getLong(at + TOKEN_AT);
        int endpoint = at + REPLY_ENDPOINT_AT;
        long gidHigh = content.getLong(endpoint);
        long gidLow = content.getLong(endpoint + 8);
        int qpNumber = content.getInt(endpoint + QPN);
        int qkey = content.getInt(endpoint + QKEY);
        int maxPayload = content.getInt(endpoint + MAX_PAYLOAD);
        int flags = content.getUnsignedByte(at + REPLY_FLAGS_AT);
        boolean hasEndpoint = !none(gidHigh, gidLow, qpNumber, qkey, maxPayload);
        boolean shmOffered = (flags & SHM) != 0;
        if (token == 0 || hasEndpoint && impossible(gidHigh, gidLow, qpNumber, qkey, maxPayload)
                || (flags & ~(SHM | SHM_RING_BITS)) != 0 || !shmOffered && (flags & SHM_RING_BITS) != 0
                || shmOffered && !p.askedShm || !shmOffered && (!hasEndpoint || local == null)) {
            rejected++; // the request stays out: a genuine reply may still come
            return;
        }
        if (hasEndpoint && local != null) {
            if (!route(p, from, gidHigh, gidLow, qpNumber, qkey, maxPayload) && !shmOffered) {
                // Nothing usable: UDP only for a backoff.
                p.pending = false;
                p.shm = false;
                p.negative = true;
                p.retryAt = now + p.backoff;
                p.backoff = Math.min(p.backoff * 2, config.maxBackoff());
                return;
            }
        } else {
            p.route = null;
        }
        p.shm = shmOffered;
        p.shmNonce = p.nonce;
        p.shmRingShift = (flags & SHM_RING_BITS) >> 1;
        p.token = token;
        p.resolvedAt = now;
        p.pending = false;
        p.negative = false;
        p.backoff = config.firstBackoff();
        resolved++;
        if (shmOffered && shm != null) {
            shm.offered(p);
        }
    }

    /** Makes (or keeps) the UD route a reply announced; false (no route) when none can be made. */
    private boolean route(PeerRoute p, InetSocketAddress from, long gidHigh, long gidLow, int qpNumber, int qkey,
            int maxPayload) {
        UdRoute route = p.route;
        if (route == null || p.peerMaxPayload != maxPayload || !route.sameAs(gidHigh, gidLow, qpNumber, qkey)) {
            try {
                route = local.route(Gids.of(gidHigh, gidLow), qpNumber, qkey, maxPayload);
            } catch (IOException | RuntimeException e) {
                logger.debug("no UD route to {}: {}", from, e.toString());
                p.route = null;
                return false;
            }
        }
        p.route = route;
        p.peerMaxPayload = maxPayload;
        return true;
    }

    /**
     * A request from a peer this side sends to over UD, announcing another endpoint than the route
     * leads to: the peer restarted (or another channel took its port), and datagrams on the old route
     * go to a queue pair that is gone. The route is dropped and the peer asked again at once, instead
     * of losing datagrams until the next refresh. (A forged request can only cause such a re-ask: the
     * route comes back from the peer's own reply.)
     */
    private void peerMoved(InetSocketAddress from, long gidHigh, long gidLow, int qpNumber, long now) {
        PeerRoute p = peers.get(from);
        if (p == null || p.route == null) {
            return;
        }
        UdRoute r = p.route;
        if (r.qpNumber() == qpNumber && Gids.high(r.gid()) == gidHigh && Gids.low(r.gid()) == gidLow) {
            return;
        }
        peersMoved++;
        p.route = null;
        p.negative = false;
        if (!p.pending) {
            request(p, now);
        }
    }

    /**
     * {@code peer}'s shm link went: its offer is forgotten. Without a UD route the peer is asked
     * again at its next datagram (it closed: whoever binds its address next may offer anew), or
     * with {@code failed} (the offer could not be taken up, the link broke or was never confirmed)
     * after a backoff.
     */
    public void shmGone(InetSocketAddress peer, long now, boolean failed) {
        PeerRoute p = peers.get(peer);
        if (p == null || !p.shm) {
            return;
        }
        p.shm = false;
        if (p.route == null && failed) {
            p.negative = true;
            p.retryAt = now + p.backoff;
            p.backoff = Math.min(p.backoff * 2, config.maxBackoff());
        }
    }

    /**
     * This side's endpoint closes: tells every requester holding one of its tokens, over UDP, so
     * that a peer sending to it over UD stops at once and its next datagram goes over UDP (where a
     * closed port answers with an error, as the application would see without UD), instead of
     * vanishing into a queue pair that is gone until the route's refresh goes unanswered. A lost
     * message, or a process that dies without closing, costs the peer that refresh interval.
     */
    public void goodbye() {
        if (local == null) {
            return;
        }
        for (Inbound in : inboundByToken.values()) {
            message.clear();
            message.writeLong(MAGIC).writeByte(GONE).writeLong(0).writeLong(in.token);
            message.writeZero(LENGTH - message.writerIndex());
            sender.send(in.address, message);
        }
    }

    /**
     * A GONE from {@code from}: believed only with the token {@code from} handed this side (a third
     * party cannot end a route), it drops the UD route; the peer is asked again after a backoff.
     */
    private void onGone(InetSocketAddress from, long token, long now) {
        PeerRoute p = peers.get(from);
        if (p == null || p.route == null || token == 0 || p.token != token) {
            rejected++;
            return;
        }
        gone++;
        p.route = null;
        if (!p.shm) {
            p.pending = false;
            p.negative = true;
            p.retryAt = now + p.backoff;
            p.backoff = Math.min(p.backoff * 2, config.maxBackoff());
        }
    }

    /** Routes dropped because their peer said it was gone. */
    public long gone() {
        return gone;
    }

    /**
     * Whether a request to {@code peer} is out and not yet timed out: an answer may still come.
     * (For a sender that waits for the resolution rather than use UDP.)
     */
    public boolean isPending(InetSocketAddress peer, long now) {
        PeerRoute p = peers.get(peer);
        return p != null && p.pending && now - p.requestedAt < config.requestTimeout();
    }

    /**
     * How long an unanswered request waits before it is sent again (or, after the last resend, times
     * out), in nanoseconds: a sender waiting for a resolution looks again this often.
     */
    public long resendIntervalNanos() {
        return config.requestTimeout() / (RESENDS + 1);
    }

    /** Requests sent again, unanswered a third of the timeout after the last (each also in {@link #requestsSent()}). */
    public long resent() {
        return resent;
    }

    /** Peers whose endpoint changed under a live route (a restart), seen in their requests. */
    public long peersMoved() {
        return peersMoved;
    }

    /** The endpoint fields of a side without one: all zero. */
    private static boolean none(long gidHigh, long gidLow, int qpNumber, int qkey, int maxPayload) {
        return (gidHigh | gidLow | qpNumber | qkey | maxPayload) == 0;
    }

    private static boolean impossible(long gidHigh, long gidLow, int qpNumber, int qkey, int maxPayload) {
        // QPN 0 and 1 are the subnet management and general services queue pairs, never an endpoint.
        return qpNumber <= 1 || qpNumber > MAX_QPN || qkey < 0 || maxPayload < 1 || maxPayload > MAX_PAYLOAD_LIMIT
                || Gids.impossible(gidHigh, gidLow);
    }

    /**
     * The UDP address of the sender of a UD datagram that presents {@code token} and comes from
     * queue pair {@code sourceQpn} at the GID {@code sourceGidHigh}/{@code sourceGidLow}, or null
     * (drop it: counted) when no live requester holds that token or the datagram does not come from
     * the endpoint that requester announced.
     */
    public InetSocketAddress senderOf(long token, int sourceQpn, long sourceGidHigh, long sourceGidLow, long now) {
        Inbound in = inboundByToken.get(token);
        if (in == null || !in.announced(sourceQpn, sourceGidHigh, sourceGidLow)) {
            injectedDropped++;
            return null;
        }
        if (now - in.expiresAt >= 0) {
            forget(in);
            injectedDropped++;
            return null;
        }
        return in.address;
    }

    /** {@link #senderOf(long, int, long, long, long)} for a datagram as the endpoint hands it over. */
    public InetSocketAddress senderOf(UdDatagram datagram, long now) {
        return senderOf(datagram.token(), datagram.sourceQpn(), datagram.sourceGidHigh(), datagram.sourceGidLow(), now);
    }

    private void forget(Inbound in) {
        inboundByToken.remove(in.token);
        if (inboundByAddress.get(in.address) == in) {
            inboundByAddress.remove(in.address);
        }
    }

    /**
     * Forgets expired requesters and peers not sent to for longer than a route lives and the longest
     * backoff: call it now and then (every few seconds) so a channel that talked to many peers once
     * does not keep them all. Returns how many entries went.
     */
    public int expire(long now) {
        return sweepInbound(now) + sweepPeers(now);
    }

    private int sweepInbound(long now) {
        int removed = 0;
        for (Iterator<Inbound> it = inboundByToken.values().iterator(); it.hasNext(); ) {
            Inbound in = it.next();
            if (now - in.expiresAt >= 0) {
                it.remove();
                if (inboundByAddress.get(in.address) == in) {
                    inboundByAddress.remove(in.address);
                }
                removed++;
            }
        }
        return removed;
    }

    private int sweepPeers(long now) {
        long idle = Math.max(config.routeLifetime(), config.maxBackoff());
        int removed = 0;
        for (Iterator<PeerRoute> it = peers.values().iterator(); it.hasNext(); ) {
            PeerRoute p = it.next();
            if (now - p.lastUsed >= idle) {
                it.remove();
                removed++;
            }
        }
        return removed;
    }

    /** Peers this side sends to and keeps state for. */
    public int peerCount() {
        return peers.size();
    }

    /** Tokens this side handed out that are live (or not yet swept). */
    public int inboundCount() {
        return inboundByToken.size();
    }

    public long requestsSent() {
        return requestsSent;
    }

    public long repliesSent() {
        return repliesSent;
    }

    /** Replies accepted: first resolutions and refreshes. */
    public long resolved() {
        return resolved;
    }

    /** Replies ignored (unasked source, wrong nonce, late, impossible fields), invalid requests, and messages of the wrong length. */
    public long rejected() {
        return rejected;
    }

    /** UD datagrams dropped by {@link #senderOf}: unknown or expired token, or not from the requester's endpoint. */
    public long injectedDropped() {
        return injectedDropped;
    }

    /** Requests not answered: too soon after the last reply to that requester, or the table full. */
    public long repliesLimited() {
        return repliesLimited;
    }

    /** Requests that timed out (the peer then uses UDP for a backoff). */
    public long unanswered() {
        return unanswered;
    }
}
