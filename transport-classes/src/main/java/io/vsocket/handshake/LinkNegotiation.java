package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.LinkHello;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.Scratch;
import io.vsocket.link.TcpConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.VSocketLinkException;
import io.vsocket.link.shm.ShmHello;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The hello on a new connection's TCP socket, which picks the link its bytes will travel on.
 *
 * <p>How the two sides find each other without breaking plain TCP peers: a vsocket client's first
 * byte is one byte of TCP urgent (out-of-band) data, {@link Hello#CLIENT_MARKER}. A plain server
 * never sees it in its stream (urgent data is not delivered inline unless a server asks for
 * {@code SO_OOBINLINE}). A vsocket server that sees the marker answers with its offer; one that
 * sees ordinary bytes first, or nothing within the hello timeout, serves a plain client over TCP.
 * A vsocket client that gets ordinary bytes back, or nothing within the timeout, talks plain TCP
 * to a plain server. So client-first protocols (HTTP, Redis, gRPC) never wait, vsocket pairs never
 * wait, and only a server-first protocol with a plain peer waits once, for the timeout.
 *
 * <pre>
 * client                         server
 *   urgent 'v'  ------------->
 *               <-------------   server hello: token, ring size, each link offered with its part
 *   (shm: memfd + doorbells over the rendezvous socket, with the token)
 *   client hello: token, link, its part ->          (rdma's part: the client's queue pair and ring)
 *               <-------------   link ready: the link and its part, or tcp and why   (not for tcp;
 *                                rdma's part: the server's queue pair and ring)
 * </pre>
 *
 * Each link's part of it is the link's own ({@link LinkHello}, listed in {@link LinkHellos}): this
 * class drives the messages, the timers and the fall-backs, and knows no link but tcp — save the
 * same-host upgrade ({@link #upgradingServer}), which is shm's own path through the hello.
 *
 * A side that stopped waiting (a client for the offer, a server for the choice) goes on in tcp and
 * watches its peer's first bytes for the late hello ({@link #watchLateHello}): a client that has
 * sent nothing yet answers a late offer and the link is made as usual under its active channel
 * ({@link #upgrade()}); a late choice is answered with "tcp". A client that has already sent bytes
 * over tcp answers a late offer of a link other than tcp in the middle of its stream: one urgent
 * byte ({@link Hello#LATE_MARKER}) and its choice right behind it, holding its writes from there.
 * The server, having seen the client's bytes where a choice belonged, reads its stream only up to
 * that mark ({@link NativeSocket#readBeforeMark}), takes the choice behind it, and answers the same
 * way — its own mark behind the bytes it sent, the link-ready behind that — holding its writes from
 * the mark; each side then reads the other's tcp bytes up to the mark and the new link's after it,
 * so nothing is lost or reordered. A side whose peer ended its stream before answering stays on tcp.
 *
 * Event-loop thread only; one per connection, dropped once the link is known.
 */
public final class LinkNegotiation {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(LinkNegotiation.class);
    /**
     * The connection tokens' source: the JDK's DRBG (SHA-256, seeded once from the system), which draws a
     * token without a system call — the default ({@code NativePRNG}) reads {@code /dev/urandom} under a
     * lock for every token, once per connection on the accepting loop. Either is a CSPRNG.
     */
    private static final SecureRandom RANDOM = tokenSource();
    /** The first fallback to tcp is logged at INFO, the rest at DEBUG. */
    private static volatile boolean loggedFallback;

    private enum Step {
        AWAIT_MARKER, AWAIT_SERVER_HELLO, AWAIT_CLIENT_HELLO, AWAIT_LINK_READY,
        /** A server setting the chosen link up: waiting for the client's side of it (shm's memory, rdma's first message). */
        AWAIT_ACCEPTANCE,
        /** A client that gave up waiting: on tcp, but a late server hello may still lead the stream. */
        WATCH_LATE_HELLO,
        /** A server that stopped waiting for the choice: on tcp, but a late choice may still lead the stream. */
        WATCH_LATE_CHOICE,
        /** A server on tcp whose client sent bytes where the choice belonged: its choice comes behind an urgent mark. */
        WATCH_MARK,
        /** The hello's outcome is known, but its marked message is still going out (the socket was full). */
        FLUSH_MARK,
        DONE
    }

    /**
     * A server waits this many hello timeouts for the client's choice: much longer than a client
     * waits for the offer, so that a client which gave up (and drops the late offer) is the only
     * case in which the server falls back on its own.
     */
    static final int SERVER_PATIENCE = 10;

    private final NegotiationHost channel;
    private final NativeSocket socket;
    private final LinkSettings config;
    private ByteBuf in = Unpooled.buffer(256);
    private Step step;
    private Future<?> timeout;
    private byte[] token;
    /** Server: the server channel's listeners (the upgrade path's shm rendezvous among them). */
    private LinkListeners listeners;
    /** Server: the links offered (tcp's included). */
    private Set<VSocketLink> offered;
    /** Server: each link's offer until the client chose (the chosen one then moves to {@link #accepting}). */
    private final Map<VSocketLink, LinkHello.Offer> offers = new EnumMap<>(VSocketLink.class);
    /** Server: the chosen link's offer while it is set up. */
    private LinkHello.Offer accepting;
    /** Client: its choice until the server makes it ready. */
    private LinkHello.Choice choice;
    /** The link chosen (tcp included), once known. */
    private VSocketLink chosenLink;
    private final AcceptOutcome acceptOutcome = new AcceptOutcome();
    /** A late offer this client answers (see {@link #watchLateHello}), until the switch is done. */
    private Hello.ServerHello lateOffer;
    /** This client answered a late offer from an active tcp channel: it falls back if the server moved on. */
    private boolean late;
    /**
     * This hello's answers go in the middle of the stream, each behind an urgent mark (a client that had
     * sent bytes over tcp when the offer came, and its server).
     */
    private boolean marked;
    /** A marked message still going out (the socket was full): the bytes not yet written. */
    private ByteBuf markedOut;
    /** This accepted connection's SYN carried {@link Hello#SYN_MARK} (see {@link #synMark}). */
    private boolean synMarked;
    /** Whether {@link #markedOut}'s urgent byte went out already. */
    private boolean markSent;
    /** In {@link Step#FLUSH_MARK}: the link the channel goes on with once the marked message went (null: the one it has). */
    private ConnectionLink afterFlush;
    /** A server's marked link-ready went out: its acceptance waits without a timer (see AcceptOutcome.sendReady). */
    private boolean readySentMarked;
    /** A client's watch for a late offer gave up on bytes that only began like one (see timedOut): they are the stream's. */
    private boolean watchGivenUp;
    /** The channel's input was shut while the peer's mark was awaited: this hello reads up to it (see discardUntilMark). */
    private boolean discardBeforeMark;

    /** {@link #watchLateHello}: nothing decided yet. */
    public static final int WATCHING = 0;
    /** {@link #watchLateHello}: the watch is over; {@link #takeLeftover()} has what came after any hello. */
    public static final int WATCH_DONE = 1;
    /** {@link #watchLateHello}: the end of the stream, and nothing left. */
    public static final int WATCH_EOF = -1;
    /**
     * {@link #watchLateHello}: a late offer this client can still take (it has sent nothing on tcp): the
     * channel gives the socket back to this hello ({@link #upgrade()}), which makes the link as usual.
     */
    public static final int WATCH_UPGRADE = 2;
    /**
     * {@link #watchLateHello}: the peer's answer will come behind an urgent mark in the middle of the
     * stream (a client has answered the late offer so; a server sees the client's bytes first): the
     * channel takes {@link #takeBytesBeforeMark()} as the application's and reads up to the mark.
     */
    public static final int WATCH_MARK = 3;

    public LinkNegotiation(NegotiationHost channel, NativeSocket socket, LinkSettings config) {
        this.channel = channel;
        this.socket = socket;
        this.config = config;
    }

    /** The epoll interest while the hello is under way. */
    public int interest() {
        int flags = VSocketIoOps.IN | VSocketIoOps.RDHUP | (markedOut != null ? VSocketIoOps.OUT : 0);
        return step == Step.AWAIT_MARKER ? flags | VSocketIoOps.PRI : flags;
    }

    /**
     * Whether a client that allows tcp goes on over it at once and makes its hello an upgrade (the
     * default; {@code -Dio.vsocket.linkUpgrade=false} makes it wait for the hello, as a client that
     * does not allow tcp always does): its connect completes as TCP's does, its first bytes go over
     * tcp, and the offer, whenever it comes, moves the connection — taken as a timely one while the
     * client has sent nothing, else behind an urgent mark in the middle of the stream.
     */
    public static final boolean UPGRADE = Boolean.parseBoolean(System.getProperty("io.vsocket.linkUpgrade", "true"));

    /** Whether a client with these links goes on over tcp at once ({@link #startClientOnTcp}). */
    public static boolean startsOnTcp(LinkSettings config) {
        return UPGRADE && config.getLinks().contains(VSocketLink.TCP);
    }

    /**
     * The client's side, going on over tcp at once ({@link #UPGRADE}): its marker goes, and its channel
     * is active on tcp now, watching the server's first bytes for the offer.
     */
    public void startClientOnTcp() throws IOException {
        socket.sendUrgent(Hello.CLIENT_MARKER);
        step = Step.WATCH_LATE_HELLO;
        channel.linkEstablishedWatchingLateHello(this);
    }

    public void startClient() throws IOException {
        socket.sendUrgent(Hello.CLIENT_MARKER);
        step = Step.AWAIT_SERVER_HELLO;
        // Giving up means plain tcp: without tcp allowed, wait as long as the connect timeout lets us.
        if (config.getLinks().contains(VSocketLink.TCP)) {
            armTimeout();
        }
    }

    /** {@code listeners}: the server channel's, null when it has none (then only tcp is offered). */
    public void startServer(LinkListeners listeners) {
        this.listeners = listeners;
        step = Step.AWAIT_MARKER;
        Hello.SynMark mark = listeners != null && listeners.savesSyns() ? synMark() : Hello.SynMark.UNKNOWN;
        boolean marked = mark == Hello.SynMark.UPGRADE;
        if (mark == Hello.SynMark.NONE && PLAIN_UNMARKED_SYNS && isLoopback(channel.remoteAddress())) {
            // Every vsocket client of a loopback server marks its SYN (one mark or the other): this one
            // is plain, and is served at once, before it sends anything (a server-first protocol's
            // greeting must not wait the hello timeout for a marker that never comes).
            plainPeer("connected from loopback without a vsocket mark in its SYN");
            return;
        }
        if (marked && !isLoopback(channel.remoteAddress())) {
            // A SYN marked as only a client on this host marks it, from another address: a connection
            // forwarded to this side (a container's published port), whose client sends no urgent
            // marker, or a class set on the way. Neither can share memory with this side: plain tcp,
            // at once (a server-first protocol must not wait the hello timeout for a marker).
            plainPeer("marked its SYN from " + channel.remoteAddress() + ", not from loopback (a forwarded connection)");
            return;
        }
        synMarked = marked;
        if (!synMarked) {
            armTimeout();
        }
        ready();
    }

    private static boolean isLoopback(java.net.InetSocketAddress address) {
        return address != null && address.getAddress() != null && address.getAddress().isLoopbackAddress();
    }

    /**
     * Whether a connect to {@code remote} reaches a loopback peer: a loopback address, or the wildcard
     * ({@code 0.0.0.0}, {@code ::}), which Linux connects to loopback — a server bound to a port alone
     * names itself so, and its {@code localAddress()} is what many clients are given.
     */
    private static boolean reachesLoopback(java.net.InetSocketAddress remote) {
        return isLoopback(remote) || remote != null && remote.getAddress() != null
                && remote.getAddress().isAnyLocalAddress();
    }

    /**
     * Which mark this accepted connection's SYN carried ({@link Hello#SYN_MARK}, {@link
     * Hello#SYN_MARK_HELLO}, neither, or unknown where none was saved). Read for every connection:
     * reading lets the kernel free the saved headers, which it would otherwise keep as long as the
     * connection lives.
     */
    private Hello.SynMark synMark() {
        try {
            return Hello.SynMark.of(socket.savedSynTrafficClass());
        } catch (IOException e) {
            logger.debug("{}: the saved SYN could not be read: {}", channel, e.getMessage());
            return Hello.SynMark.UNKNOWN;
        }
    }

    private static SecureRandom tokenSource() {
        try {
            return SecureRandom.getInstance("DRBG");
        } catch (java.security.NoSuchAlgorithmException e) {
            return new SecureRandom();
        }
    }

    /**
     * Whether a loopback client whose saved SYN carries neither mark is served as plain tcp at accept
     * ({@code -Dio.vsocket.plainUnmarkedSyns=false}: it is waited for as any client is, its first bytes or
     * its marker, up to the hello timeout — for clients run with {@code -Dio.vsocket.synMark=false}, or of
     * a version before 2026-12-08, which send an urgent marker after an unmarked SYN).
     */
    static final boolean PLAIN_UNMARKED_SYNS =
            Boolean.parseBoolean(System.getProperty("io.vsocket.plainUnmarkedSyns", "true"));

    private void armTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
        }
        Step armedFor = step;
        boolean patient = step == Step.AWAIT_CLIENT_HELLO || step == Step.AWAIT_ACCEPTANCE || step == Step.WATCH_MARK;
        // A client waits for the answer to a late choice (the only time AWAIT_LINK_READY has a timer)
        // as long as lateAnswerMillis says.
        long millis = step == Step.AWAIT_LINK_READY ? lateAnswerMillis()
                : (long) config.getHelloTimeoutMillis() * (patient ? SERVER_PATIENCE : 1);
        timeout = channel.eventLoop().schedule(() -> timedOut(armedFor), millis, TimeUnit.MILLISECONDS);
    }

    private void timedOut(Step armedFor) {
        if (step != armedFor) {
            return;
        }
        switch (step) {
            case AWAIT_MARKER -> plainPeer("sent nothing within " + config.getHelloTimeoutMillis() + " ms");
            case AWAIT_SERVER_HELLO -> {
                if (config.getLinks().contains(VSocketLink.TCP)) {
                    giveUp();
                } else {
                    // Armed only once part of an offer came (a pinned client otherwise waits as long
                    // as its connect timeout): the server speaks vsocket, and its offer stopped.
                    fail(new VSocketLinkException("the server's vsocket offer stopped after " + in.readableBytes()
                            + " bytes and nothing more came within " + config.getHelloTimeoutMillis() + " ms"));
                }
            }
            case AWAIT_CLIENT_HELLO -> {
                if (marked) {
                    fail(new VSocketLinkException("the client's late choice behind its urgent mark stopped after "
                            + in.readableBytes() + " bytes"));
                } else {
                    stopWaitingForChoice();
                }
            }
            // The offers go (a choice that still comes is answered with tcp); the watch for the mark stays.
            case WATCH_MARK -> closeOffers();
            case WATCH_LATE_HELLO -> {
                if (Hello.partOfTheMagicOnly(in)) {
                    // Not even the magic whole after a hello timeout: a plain server's first bytes, waiting
                    // for this side: they go up.
                    watchGivenUp = true;
                    channel.heldInboundReady();
                } else if (in.isReadable()) {
                    // A client on tcp already (it went on at once, or gave up): it keeps watching, and says why.
                    logOnce("the server's vsocket offer stopped after " + in.readableBytes() + " bytes and nothing "
                            + "more came within " + config.getHelloTimeoutMillis() + " ms (still watched for: the "
                            + "offer is taken if its rest comes)");
                }
            }
            case AWAIT_LINK_READY -> fail(new VSocketLinkException("the server did not answer this client's choice of "
                    + "a link (made on its late offer) within " + lateAnswerMillis() + " ms"));
            case AWAIT_ACCEPTANCE -> {
                String why;
                try {
                    why = accepting.timedOut((long) SERVER_PATIENCE * config.getHelloTimeoutMillis());
                } catch (IOException | RuntimeException e) {
                    fail(e);
                    return;
                }
                linkFailed(name(chosenLink) + ": " + why);
            }
            default -> {
            }
        }
    }

    /** The socket is readable (or urgent data arrived). */
    public void ready() {
        try {
            flushMarked();
            if (step == Step.FLUSH_MARK || step == Step.DONE) {
                return;
            }
            if (discardBeforeMark && !discardToMark()) {
                return;
            }
            if (step == Step.AWAIT_MARKER) {
                if (synMarked) {
                    upgradingServer();
                    return;
                }
                int urgent = socket.readUrgent();
                if (urgent == Hello.CLIENT_MARKER) {
                    sendServerHello();
                    return;
                }
                if (urgent == Hello.UPGRADE_MARKER) {
                    upgradingServer();
                    return;
                }
                if (urgent == NativeSocket.URGENT_NOT_YET) {
                    return;
                }
                // Peek, never read: a read that passes a marker arriving just now would clear it.
                int n = socket.peek(Scratch.address(), 1);
                if (n != 0) {
                    plainPeer(n < 0 ? "closed before sending anything" : "spoke first without the vsocket marker");
                }
                return;
            }
            int n = readSome();
            if (n == NativeSocket.AT_MARK) {
                // The client's own bytes, which began like a hello, and its late choice behind them.
                watchMarkedChoice();
                return;
            }
            while (step != Step.DONE && in.isReadable()) {
                if (marked && !Hello.startsLikeHello(in)) {
                    throw new HelloException("the peer's bytes behind its urgent mark are not a vsocket hello");
                }
                if (step == Step.AWAIT_SERVER_HELLO && !Hello.startsLikeHello(in)) {
                    plainPeer("answered with its own bytes");
                    return;
                }
                if (step == Step.AWAIT_LINK_READY && !Hello.startsLikeHello(in)) {
                    // The server stopped waiting for a choice and went on in plain tcp before this
                    // client's (late) one came (it drops that): so does this client, these bytes first.
                    serverWentOn();
                    return;
                }
                if (step == Step.AWAIT_CLIENT_HELLO && !Hello.startsLikeHello(in)) {
                    // The client gave up waiting for the offer and went on in plain tcp: it answers the
                    // offer behind an urgent mark once it reads it.
                    watchMarkedChoice();
                    return;
                }
                Hello.Message message;
                try {
                    message = Hello.decode(in);
                } catch (HelloException e) {
                    if (step == Step.AWAIT_LINK_READY && late) {
                        serverWentOn(); // its own bytes, which merely began like a hello
                        return;
                    }
                    throw e;
                }
                if (message == null) {
                    break;
                }
                received(message);
            }
            if (step == Step.AWAIT_SERVER_HELLO && in.isReadable() && timeout == null) {
                // Part of an offer, on a client that waits for the server without a timer: the rest
                // comes at once from a sound server, so it gets one hello timeout, not the connect's.
                armTimeout();
            }
            if (n < 0 && step == Step.AWAIT_LINK_READY && late && !in.isReadable()) {
                // The server (on tcp, having stopped waiting) ended its stream: the tcp link reads that end.
                serverWentOn();
                return;
            }
            if (n < 0 && step != Step.DONE) {
                if (step == Step.AWAIT_SERVER_HELLO && !in.isReadable()) {
                    plainPeer("closed without answering");
                } else {
                    throw new VSocketLinkException("the peer closed the connection in the middle of the vsocket hello ("
                            + in.readableBytes() + " bytes of an unfinished message, waiting for "
                            + step.name().toLowerCase().replace('_', ' ') + ")");
                }
            }
        } catch (IOException | RuntimeException e) {
            fail(e);
        }
    }

    private int readSome() throws IOException {
        MemorySegment scratch = Scratch.segment();
        // A server holding the start of what may be a choice: the client's own bytes may have begun like
        // one, and its marked choice follow them, which a plain read starting at the mark would run into.
        boolean markMayFollow = in.isReadable() && (step == Step.AWAIT_CLIENT_HELLO && !marked
                || step == Step.WATCH_LATE_CHOICE) && offersOtherThanTcp();
        int n = markMayFollow ? socket.readBeforeMark(scratch.address(), Scratch.SIZE)
                : socket.read(scratch.address(), Scratch.SIZE);
        if (n == NativeSocket.AT_MARK) {
            return n;
        }
        if (n > 0) {
            in.writeBytes(scratch.asSlice(0, n).asByteBuffer());
        }
        if (in.readableBytes() > Hello.HEADER + Hello.MAX_BODY
                && (step == Step.AWAIT_ACCEPTANCE || step == Step.AWAIT_LINK_READY && !late && !marked)) {
            throw new HelloException("the peer sent more than a hello before its link was ready");
        }
        return n;
    }

    private void received(Hello.Message message) throws IOException {
        switch (step) {
            case AWAIT_SERVER_HELLO -> {
                if (!(message instanceof Hello.ServerHello hello)) {
                    throw new HelloException("expected the server's hello, got " + message.getClass().getSimpleName());
                }
                choose(hello);
            }
            case AWAIT_CLIENT_HELLO -> {
                if (!(message instanceof Hello.ClientHello hello)) {
                    throw new HelloException("expected the client's hello, got " + message.getClass().getSimpleName());
                }
                clientChose(hello);
            }
            case AWAIT_LINK_READY -> {
                if (!(message instanceof Hello.LinkReady ready)) {
                    throw new HelloException("expected link-ready, got " + message.getClass().getSimpleName());
                }
                linkReady(ready);
            }
            default -> throw new HelloException("unexpected " + message.getClass().getSimpleName() + " while "
                    + step.name().toLowerCase().replace('_', ' '));
        }
    }

    // ---- server side ----

    private void sendServerHello() throws IOException {
        token = new byte[Hello.TOKEN_LENGTH];
        RANDOM.nextBytes(token);
        List<VSocketLink> allowed = config.getLinks();
        LinkHello.HelloConnection connection = connection();
        EnumMap<VSocketLink, byte[]> parts = new EnumMap<>(VSocketLink.class);
        for (LinkHello hello : LinkHellos.all()) {
            if (!allowed.contains(hello.link())) {
                continue;
            }
            LinkHello.Offer offer = hello.offer(connection, listeners == null ? null : listeners.listener(hello));
            if (offer != null) {
                offers.put(hello.link(), offer);
                parts.put(hello.link(), Hello.part(offer::writeOffer));
            }
        }
        if (allowed.contains(VSocketLink.TCP)) {
            parts.put(VSocketLink.TCP, Hello.NO_PART);
        }
        offered = EnumSet.noneOf(VSocketLink.class);
        offered.addAll(parts.keySet());
        write(out -> Hello.encode(new Hello.ServerHello(token, config.getRingSize(VSocketLink.SHM), parts), out));
        step = Step.AWAIT_CLIENT_HELLO;
        channel.negotiationInterestChanged();
        armTimeout();
    }

    private LinkHello.HelloConnection connection() {
        return new LinkHello.HelloConnection(channel, socket, config, token);
    }

    /**
     * A client on this host that went on over tcp at once ({@link ShmUpgradeLink}): the offer leads
     * this side's stream, and the channel goes on over tcp now, moving onto shm once the client's
     * memory comes. Without shm here the offer says so, and the connection stays on tcp.
     */
    private void upgradingServer() throws IOException {
        List<VSocketLink> allowed = config.getLinks();
        ShmRendezvous rendezvous = allowed.contains(VSocketLink.SHM) && listeners != null
                && listeners.listener(ShmHello.INSTANCE) instanceof ShmRendezvous r ? r : null;
        if (rendezvous != null && allowed.contains(VSocketLink.TCP) && FileDescriptors.pastHalfTheLimit(socket.fd())) {
            // A shm link holds a second descriptor (its doorbell): past half the descriptor limit the rest are kept
            // for accepts, and the offer leaves shm out, before the client makes memory for nothing (helper-64's
            // probe: at a limit of 300 the shm links took what 47 of 150 connections needed).
            rendezvous = null;
        }
        boolean shm = rendezvous != null;
        if (!shm && !allowed.contains(VSocketLink.TCP)) {
            fail(new VSocketLinkException("the client " + channel.remoteAddress() + " went on over tcp at once, to "
                    + "move onto shm later, but this side allows neither: " + allowed));
            return;
        }
        byte[] offerToken = new byte[Hello.TOKEN_LENGTH];
        RANDOM.nextBytes(offerToken);
        EnumMap<VSocketLink, byte[]> parts = new EnumMap<>(VSocketLink.class);
        if (shm) {
            parts.put(VSocketLink.SHM, Hello.part(ShmHello.OfferPart.of(rendezvous)::write));
        }
        if (allowed.contains(VSocketLink.TCP)) {
            parts.put(VSocketLink.TCP, Hello.NO_PART);
        }
        Hello.ServerHello offer = new Hello.ServerHello(offerToken, config.getRingSize(VSocketLink.SHM), parts);
        // The link waits for the memory before the offer goes, and sends the offer before its first bytes.
        ShmUpgradeLink upgrade = shm ? ShmUpgradeLink.server(channel, socket, config, rendezvous, offerToken) : null;
        try {
            if (upgrade != null) {
                // Direct, so the tcp link sends it as it is (a heap copy cost 15-20 µs of every connection here).
                ByteBuf encoded = ByteBufAllocator.DEFAULT.directBuffer(Hello.HEADER + 128);
                try {
                    Hello.encode(offer, encoded);
                } catch (RuntimeException e) {
                    encoded.release();
                    throw e;
                }
                upgrade.offerFirst(encoded);
            } else if (ShmUpgradeLink.mayOfferAlone(socket)) {
                // (Not where a byte of the client's would be at stake: see ShmUpgradeLink.sendOfferAlone.)
                write(out -> Hello.encode(offer, out));
            }
            if (!synMarked) {
                // One read past the mark: it takes the urgent byte off the stream (left there, it would
                // turn this side's close into a reset), with the client's first bytes if they came with
                // it. A SYN that carried the mark left nothing in the stream: the link reads it all.
                readSome();
            }
        } catch (IOException | RuntimeException e) {
            if (upgrade != null) {
                upgrade.close();
            }
            throw e;
        }
        if (upgrade == null) {
            finish(new TcpConnectionLink(channel, socket, config));
            return;
        }
        if (in.isReadable()) {
            upgrade.hold(in); // counted as the client's bytes over tcp, as the link reads them
        } else {
            in.release();
        }
        end();
        channel.linkEstablished(upgrade, null);
    }

    /**
     * The link of a client that suits {@link ShmUpgradeLink} (on the server's host, shm and tcp
     * allowed): its marker is sent unless its SYN carried it ({@code synMarkedFrom}, from {@link
     * #markSyn}, whose traffic class is restored now), and its channel goes on over tcp at once; null
     * for any other client, whose connect waits for the hello.
     */
    public static ConnectionLink upgradingClient(NegotiationHost host, NativeSocket socket, LinkSettings config,
            int synMarkedFrom) throws IOException {
        if (synMarkedFrom >= 0) {
            // The handshake is done: the client's own class from here on.
            unmarkSyn(socket, synMarkedFrom);
        }
        if (!ShmUpgradeLink.suits(config, socket.localAddress(), host.remoteAddress())) {
            return null;
        }
        if (synMarkedFrom < 0) {
            // At once, not with the first bytes: a server that closes before any byte of the client's
            // comes would answer a later marker with a reset (Netty's SocketRstTest).
            socket.sendUrgent(Hello.UPGRADE_MARKER);
        }
        return ShmUpgradeLink.client(host, socket, config);
    }

    /**
     * Before the connect of a client that will speak vsocket to a server on loopback: its SYN is to carry
     * {@link Hello#SYN_MARK} where the client goes on over tcp at once and moves onto shm ({@link
     * ShmUpgradeLink#suits}; instead of an urgent marker after it), else {@link Hello#SYN_MARK_HELLO}
     * (its urgent marker follows), so that the server tells a plain client by its unmarked SYN. A client
     * pinned to tcp speaks none, and is not marked. Returns what {@link #upgradingClient} restores once
     * connected (the socket's own class, and which form was marked), or -1 where the SYN goes unmarked
     * (then an upgrading client's marker goes, as before).
     */
    public static int markSyn(NativeSocket socket, LinkSettings config, java.net.InetSocketAddress remote) {
        List<VSocketLink> links = config.getLinks();
        if (!SYN_MARKS || !reachesLoopback(remote) || links.size() == 1 && links.get(0) == VSocketLink.TCP) {
            return -1;
        }
        boolean v4 = remote.getAddress() instanceof java.net.Inet4Address;
        try {
            int own = trafficClass(socket, v4);
            setTrafficClass(socket, v4, ShmUpgradeLink.linksSuit(config) ? Hello.SYN_MARK : Hello.SYN_MARK_HELLO);
            return v4 ? own : own | MARKED_OVER_IPV6;
        } catch (IOException e) {
            logger.debug("the SYN to {} goes unmarked (its urgent marker follows the connect): {}", remote, e.getMessage());
            return -1;
        }
    }

    /** In {@link #markSyn}'s answer beside the class: the SYN went to an IPv6 peer (its traffic class was marked). */
    private static final int MARKED_OVER_IPV6 = 1 << 8;

    /** Restores the class {@link #markSyn} found ({@code markedFrom}, its answer): after the connect, or its failure. */
    public static void unmarkSyn(NativeSocket socket, int markedFrom) {
        int own = markedFrom & 0xff;
        try {
            setTrafficClass(socket, (markedFrom & MARKED_OVER_IPV6) == 0, own);
        } catch (IOException e) {
            logger.debug("the traffic class {} could not be restored after the marked SYN: {}", own, e.getMessage());
        }
    }

    /**
     * The form that the packets to the peer carry (the socket is dual-stack): IPv4's TOS for an IPv4
     * (v4-mapped) peer ({@code v4}), else IPv6's traffic class. Only that one is marked and restored; the other
     * keeps the value the application gave both through the channel's option.
     */
    private static int trafficClass(NativeSocket socket, boolean v4) throws IOException {
        return v4 ? socket.getIntOption(LibC.IPPROTO_IP, LibC.IP_TOS, "IP_TOS")
                : socket.getIntOption(LibC.IPPROTO_IPV6, LibC.IPV6_TCLASS, "IPV6_TCLASS");
    }

    private static void setTrafficClass(NativeSocket socket, boolean v4, int trafficClass) throws IOException {
        if (v4) {
            socket.setIntOption(LibC.IPPROTO_IP, LibC.IP_TOS, trafficClass, "IP_TOS");
        } else {
            socket.setIntOption(LibC.IPPROTO_IPV6, LibC.IPV6_TCLASS, trafficClass, "IPV6_TCLASS");
        }
    }

    /**
     * Whether clients of a loopback server mark their SYN ({@link #markSyn}): those that go on over tcp at
     * once with {@link Hello#SYN_MARK} rather than an urgent marker, the others with {@link
     * Hello#SYN_MARK_HELLO} before theirs ({@code -Dio.vsocket.synMark=false}: none, and the urgent marker
     * from every client, as before 2026-12-05; a loopback server then needs {@code
     * -Dio.vsocket.plainUnmarkedSyns=false}, see {@link #PLAIN_UNMARKED_SYNS}).
     */
    static final boolean SYN_MARKS = Boolean.parseBoolean(System.getProperty("io.vsocket.synMark", "true"));

    private void clientChose(Hello.ClientHello hello) throws IOException {
        if (!Arrays.equals(hello.token(), token)) {
            throw new HelloException("the client's hello carries a token this server did not issue");
        }
        if (!offered.contains(hello.link())) {
            throw new HelloException("the client chose " + hello.link() + ", which this server did not offer "
                    + offered);
        }
        chosenLink = hello.link();
        if (hello.link() == VSocketLink.TCP) {
            finish(new TcpConnectionLink(channel, socket, config));
            return;
        }
        if (marked && socket.isOutputShutdown()) {
            // Nothing can answer it: this side's stream ended before the mark, and the client, seeing that
            // end where the answer belonged, goes on over tcp too (what follows the choice is its bytes).
            logger.debug("{}: a late choice of {} after this side's output ended: tcp", channel, name(hello.link()));
            finish(new TcpConnectionLink(channel, socket, config));
            return;
        }
        LinkSettings.validateRingSize(hello.ringSize());
        if (in.isReadable()) {
            throw new HelloException("the client sent " + in.readableBytes() + " bytes after choosing " + hello.link());
        }
        if (!offers.containsKey(hello.link())) {
            // A marked choice after this server's patience, which closed the offers.
            linkFailed(name(hello.link()) + ": the choice came after this server stopped waiting for it");
            return;
        }
        accepting = offers.remove(hello.link());
        closeOffers();
        step = Step.AWAIT_ACCEPTANCE;
        try {
            accepting.accept(hello.ringSize(), Unpooled.wrappedBuffer(hello.part()), acceptOutcome);
        } catch (HelloPartException e) {
            throw new HelloException("the client's choice of " + name(hello.link()) + " is broken: " + e.getMessage());
        }
        if (step == Step.AWAIT_ACCEPTANCE && !readySentMarked) {
            armTimeout();
        }
    }

    /** Where the chosen link's offer reports how its set-up went; nothing once the hello is over. */
    private final class AcceptOutcome implements LinkHello.Outcome {
        @Override
        public void sendReady(LinkHello.PartWriter part) throws IOException {
            write(out -> Hello.encode(new Hello.LinkReady(chosenLink, "", Hello.part(part)), out));
            if (marked) {
                // Behind this side's bytes before its mark: the client reads it only once its application
                // read those, so how long the client's side of the link takes is its reader's business (a
                // close ends the wait). No timer (rdma's would fail the connection).
                readySentMarked = true;
                if (timeout != null) {
                    timeout.cancel(false);
                }
            }
        }

        @Override
        public void established(ConnectionLink link) {
            if (step != Step.AWAIT_ACCEPTANCE) {
                link.close();
                return;
            }
            accepting = null; // the link is the channel's now
            finish(link);
        }

        @Override
        public void refused(String reason) {
            if (step == Step.AWAIT_ACCEPTANCE) {
                linkFailed(name(chosenLink) + ": " + reason);
            }
        }

        @Override
        public void failed(Throwable cause) {
            fail(cause);
        }
    }

    /** The chosen link's set-up failed on this side: tell the client and carry on over tcp. */
    private void linkFailed(String reason) {
        logOnce(reason);
        try {
            write(out -> Hello.encode(new Hello.LinkReady(VSocketLink.TCP, reason), out));
        } catch (IOException | RuntimeException e) {
            fail(e);
            return;
        }
        finish(new TcpConnectionLink(channel, socket, config));
    }

    /**
     * The client did not choose within the server's patience: most likely a client that gave up
     * waiting for the offer and will drop it. Plain tcp, if allowed, watching the client's first
     * bytes for a choice that was only slow (a client answers a late offer when it had sent nothing):
     * that choice is dropped, and answered with "tcp" while this side has sent nothing either.
     */
    private void stopWaitingForChoice() {
        String what = "did not choose a link within " + SERVER_PATIENCE * config.getHelloTimeoutMillis()
                + " ms (a client that gave up waiting)";
        if (!config.getLinks().contains(VSocketLink.TCP)) {
            plainPeer(what);
            return;
        }
        logger.debug("{}: the client {}: plain tcp, watching for a late choice", channel, what);
        closeOffers();
        step = Step.WATCH_LATE_CHOICE;
        channel.linkEstablishedWatchingLateHello(this);
    }

    // ---- client side ----

    private void choose(Hello.ServerHello hello) throws IOException {
        token = hello.token();
        LinkHello.HelloConnection connection = connection();
        StringBuilder refused = new StringBuilder();
        for (VSocketLink link : config.getLinks()) {
            byte[] part = hello.parts().get(link);
            if (part == null) {
                continue;
            }
            if (link == VSocketLink.TCP) {
                chosenLink = link;
                write(out -> Hello.encode(new Hello.ClientHello(token, VSocketLink.TCP, config.getRingSize(VSocketLink.SHM)), out));
                if (marked) {
                    in.release();
                    in = Unpooled.EMPTY_BUFFER;
                    endOnceFlushed(null); // the channel stays on its tcp link (see answerMarked)
                } else {
                    finish(new TcpConnectionLink(channel, socket, config));
                }
                return;
            }
            try {
                choice = LinkHellos.of(link).choose(connection, hello.ringSize(), Unpooled.wrappedBuffer(part));
            } catch (HelloPartException e) {
                throw new HelloException("the server's offer of " + name(link) + " is broken: " + e.getMessage());
            } catch (IOException | RuntimeException e) {
                refused.append("; ").append(name(link)).append(": ").append(e.getMessage());
                continue;
            }
            chosenLink = link;
            LinkHello.Choice chosen = choice;
            write(out -> Hello.encode(new Hello.ClientHello(token, link, config.getRingSize(VSocketLink.SHM),
                    Hello.part(chosen::writeChoice)), out));
            // No timer of its own: the server speaks vsocket and will answer; the connect timeout
            // bounds the wait.
            step = Step.AWAIT_LINK_READY;
            if (timeout != null) {
                timeout.cancel(false);
            }
            return;
        }
        throw new VSocketLinkException("no common link with " + channel.remoteAddress() + ": this side allows "
                + config.getLinks() + ", the server offers " + hello.links() + refused);
    }

    private void linkReady(Hello.LinkReady ready) throws IOException {
        if (ready.link() != VSocketLink.TCP) {
            if (choice == null || ready.link() != chosenLink) {
                throw new HelloException("the server made " + name(ready.link()) + " ready, which this side did not "
                        + "choose");
            }
            if (in.isReadable()) {
                throw new HelloException("the server sent " + in.readableBytes() + " bytes after making "
                        + name(ready.link()) + " ready");
            }
            ConnectionLink link;
            try {
                link = choice.ready(Unpooled.wrappedBuffer(ready.part()));
            } catch (HelloPartException e) {
                throw new HelloException("the server's " + name(ready.link()) + " ready is broken: " + e.getMessage());
            }
            choice = null; // the link is the channel's now
            finish(link);
            return;
        }
        logOnce("the server could not set the chosen link up: " + ready.reason());
        closeChoice();
        if (!config.getLinks().contains(VSocketLink.TCP)) {
            throw new VSocketLinkException("the server could not set the chosen link up (" + ready.reason()
                    + ") and tcp is not among the allowed links " + config.getLinks());
        }
        finish(new TcpConnectionLink(channel, socket, config));
    }

    /**
     * No offer within the hello timeout: carry on in plain tcp. The server may be a slow vsocket
     * server rather than a plain one, so its offer may still come; if it does, it is the first
     * thing in the stream, and {@link #watchLateHello()} drops it (the server, seeing plain bytes or
     * nothing instead of a choice, falls back to tcp as well).
     */
    private void giveUp() {
        if (in.isReadable()) {
            logOnce("the server's vsocket offer stopped after " + in.readableBytes() + " bytes and nothing more came "
                    + "within " + config.getHelloTimeoutMillis() + " ms (its rest is dropped if it comes later)");
        } else {
            logger.debug("{}: no vsocket hello from the server within {} ms: plain tcp", channel,
                    config.getHelloTimeoutMillis());
        }
        step = Step.WATCH_LATE_HELLO;
        if (timeout != null) {
            timeout.cancel(false);
        }
        channel.linkEstablishedWatchingLateHello(this);
        if (Hello.partOfTheMagicOnly(in)) {
            // Part of the magic, which may have come just now: the watch's own timeout (timedOut) hands it
            // up if nothing more comes — a plain server's greeting that begins with a zero byte, waiting
            // for this side's answer. (Nothing armed it here before: such bytes were held till more came,
            // and a client that waited for the greeting before it wrote waited for good.)
            armTimeout();
        }
    }

    /**
     * On a channel that went on in tcp without the hello's end (a client that gave up waiting for
     * the offer, a server that gave up waiting for the choice): reads the peer's first bytes and
     * takes a late hello off their front. A client answers a late offer that nothing follows when
     * it has sent nothing itself ({@code sentSince} false): {@link #WATCH_UPGRADE}. Any other late
     * hello is dropped; a server answers a late choice with "tcp" when it has sent nothing. Returns
     * {@link #WATCHING}, {@link #WATCH_DONE}, {@link #WATCH_EOF} or {@link #WATCH_UPGRADE}.
     */
    public int watchLateHello(boolean sentSince) throws IOException {
        return watchLateHello(sentSince, sentSince);
    }

    /**
     * As {@link #watchLateHello(boolean)}, telling bytes sent ({@code wrote}: then a client answers a late
     * offer of another link than tcp behind an urgent mark, {@link #WATCH_MARK}) from a stream that
     * merely ended ({@code sentSince} without {@code wrote}: the offer is dropped).
     */
    public int watchLateHello(boolean sentSince, boolean wrote) throws IOException {
        if (watchGivenUp) {
            return WATCH_DONE; // the bytes that only began like an offer are the stream's (takeLeftover)
        }
        int n = readSome();
        if (n == NativeSocket.AT_MARK) {
            // A server that stopped waiting, holding the client's first bytes (they began like a hello):
            // the client's late choice lies behind them.
            step = Step.WATCH_MARK;
            return WATCH_MARK;
        }
        if (!in.isReadable()) {
            return n < 0 ? WATCH_EOF : WATCHING;
        }
        if (!Hello.startsLikeHello(in)) {
            if (step == Step.WATCH_LATE_CHOICE && offersOtherThanTcp()) {
                // The client's own bytes: once it reads the offer, its choice comes behind an urgent mark.
                step = Step.WATCH_MARK;
                return WATCH_MARK;
            }
            return WATCH_DONE;
        }
        Hello.Message message;
        try {
            message = Hello.decode(in);
        } catch (HelloException e) {
            if (in.readableBytes() >= Hello.MAGIC.length) {
                // The whole magic: a vsocket hello this side cannot read (another version), not the peer's
                // own bytes, which the application must not get.
                throw e;
            }
            return WATCH_DONE; // the peer's own bytes after all
        }
        if (message == null) {
            if (step == Step.WATCH_LATE_HELLO && (timeout == null || timeout.isDone())) {
                armTimeout(); // part of an offer: a log line if the rest does not come (see timedOut)
            }
            return n < 0 ? WATCH_DONE : WATCHING;
        }
        if (step == Step.WATCH_LATE_HELLO && message instanceof Hello.ServerHello offer && !in.isReadable()
                && !sentSince && n >= 0) {
            lateOffer = offer;
            return WATCH_UPGRADE;
        }
        if (step == Step.WATCH_LATE_HELLO && message instanceof Hello.ServerHello offer && wrote && n >= 0
                && !socket.isOutputShutdown() && otherThanTcp(offer.links())) {
            // Bytes went out over tcp before the offer came: the server saw them where a choice belonged and
            // waits for this side's answer behind an urgent mark. What follows the offer is the server's own.
            lateOffer = offer;
            return WATCH_MARK;
        }
        if (step == Step.WATCH_LATE_CHOICE && message instanceof Hello.ClientHello lateChoice
                && Arrays.equals(lateChoice.token(), token) && lateChoice.link() != VSocketLink.TCP && !sentSince) {
            // (A choice of tcp waits for no answer, as in a timely hello.)
            logger.debug("{}: a late choice of {}: answered with tcp", channel, lateChoice.link());
            write(out -> Hello.encode(new Hello.LinkReady(VSocketLink.TCP,
                    "the choice came after this server stopped waiting for it"), out));
        } else if (step == Step.WATCH_LATE_HELLO && message instanceof Hello.ServerHello offer && !wrote && n >= 0
                && !socket.isOutputShutdown() && otherThanTcp(offer.links())) {
            // The server went on in tcp (its bytes follow the offer): a choice of tcp, at the start of this
            // side's stream, so that it does not watch for a mark that would never come.
            logger.debug("{}: a late offer the server already went past: answered with tcp", channel);
            token = offer.token();
            write(out -> Hello.encode(new Hello.ClientHello(token, VSocketLink.TCP, config.getRingSize(VSocketLink.SHM)), out));
        } else {
            logger.debug("{}: dropped a late vsocket {}", channel, message.getClass().getSimpleName());
        }
        return WATCH_DONE;
    }

    /**
     * The connect's timeout is long gone when a client answers a late offer, and a server that
     * stopped waiting answers only when its application reads: the wait is bounded by a connect
     * timeout (at least the server's own patience at this side's hello timeout).
     */
    private long lateAnswerMillis() {
        return Math.max(config.getConnectTimeoutMillis(), (long) SERVER_PATIENCE * config.getHelloTimeoutMillis());
    }

    /** The server went on in plain tcp before this client's choice reached it: so does this client. */
    private void serverWentOn() {
        logger.debug("{}: the server went on in tcp before this client's choice reached it", channel);
        if (!config.getLinks().contains(VSocketLink.TCP)) {
            fail(new VSocketLinkException("the server went on in plain tcp before this client's choice reached it, "
                    + "and tcp is not among the allowed links " + config.getLinks()));
            return;
        }
        finish(new TcpConnectionLink(channel, socket, config));
    }

    /**
     * After {@link #WATCH_UPGRADE}: this client answers the late offer as it would a timely one,
     * and the channel's link is made anew (the channel holds its writes meanwhile); if the server
     * went on in tcp before the answer came, so does this client.
     */
    public void upgrade() {
        late = true;
        if (!chooseLateOffer()) {
            return;
        }
        if (step == Step.AWAIT_LINK_READY) {
            armTimeout();
            logger.debug("{}: answered a late offer", channel);
        }
    }

    /**
     * A server whose client sent bytes where its choice belonged: the channel goes on over tcp with
     * those bytes, reading up to the client's mark (the client answers the offer behind one when it
     * reads it); tcp at once if nothing but tcp was offered.
     */
    private void watchMarkedChoice() {
        if (!offersOtherThanTcp() || !config.getLinks().contains(VSocketLink.TCP)) {
            plainPeer("sent its own bytes instead of a choice"); // (fails where tcp is not allowed)
            return;
        }
        logger.debug("{}: the client went on over tcp before the offer came: tcp, its choice to come behind a mark",
                channel);
        step = Step.WATCH_MARK;
        armTimeout(); // the server's patience, after which its offers go
        channel.linkEstablishedWatchingMark(this, takeBytesBeforeMark());
    }

    private boolean offersOtherThanTcp() {
        return offered != null && otherThanTcp(offered);
    }

    /** Whether {@code links} hold one that is not tcp: an offer that a late hello can move the connection to. */
    private static boolean otherThanTcp(Set<VSocketLink> links) {
        return links.stream().anyMatch(l -> l != VSocketLink.TCP);
    }

    /** After {@link #WATCH_MARK}: the bytes read so far, which are the application's (null if none); the watch goes on. */
    public ByteBuf takeBytesBeforeMark() {
        ByteBuf bytes = in.isReadable() ? in : null;
        if (bytes == null) {
            in.release();
        }
        in = Unpooled.buffer(256);
        return bytes;
    }

    /**
     * After {@link #WATCH_MARK} on a client: answers the late offer in the middle of the stream, an
     * urgent mark and the choice behind it, and holds the channel's writes ({@link #holdsWrites()}) until
     * the server's marked answer; true while that answer is awaited (or the choice is still going out),
     * false once the hello is over (a choice of tcp that went: the channel goes on as it was, or a broken
     * offer, which failed the channel). On a server, nothing to answer: true.
     */
    public boolean answerMarked() {
        if (step == Step.WATCH_MARK) {
            return true;
        }
        marked = true;
        if (!chooseLateOffer()) {
            return false;
        }
        if (step == Step.AWAIT_LINK_READY) {
            // No timer until the mark: the server answers when its reads reach this side's mark, which
            // waits for its application to read (as this side's bytes before it do).
            if (timeout != null) {
                timeout.cancel(false);
            }
            logger.debug("{}: answered a late offer behind an urgent mark", channel);
        }
        return step != Step.DONE; // (a choice of tcp still going out: FLUSH_MARK)
    }

    /**
     * While the channel watches for the peer's mark: whether its writes wait (a client that chose, for the
     * answer; any side whose marked message is still going out, behind it).
     */
    public boolean holdsWrites() {
        return step == Step.AWAIT_LINK_READY || markedOut != null;
    }

    /**
     * The channel's reads reached the peer's urgent mark: the late hello behind it is this hello's to
     * read (the channel gives it the socket, its writes waiting). False if the urgent byte itself has not
     * come yet (the channel keeps reading up to the mark). A mark of another kind fails the hello.
     */
    public boolean markReached() {
        try {
            int urgent = socket.readUrgent();
            if (urgent == NativeSocket.URGENT_NOT_YET) {
                return false;
            }
            if (urgent != Hello.LATE_MARKER) {
                throw new HelloException(urgent == NativeSocket.URGENT_NONE
                        ? "the peer's stream ended at an urgent mark whose byte never came"
                        : "the peer sent urgent byte " + urgent + " in the middle of its stream, not vsocket's mark "
                        + "of a late hello");
            }
        } catch (IOException | RuntimeException e) {
            fail(e);
            return true;
        }
        marked = true;
        if (step == Step.WATCH_MARK) {
            step = Step.AWAIT_CLIENT_HELLO;
        }
        armTimeout(); // the answer comes right behind the mark
        return true;
    }

    /**
     * The peer's stream ended before its mark: a client's choice goes unanswered (the server's output
     * ended first, and it answers none), a server's watch ends; the channel goes on over tcp.
     */
    public void peerEnded() {
        if (step == Step.AWAIT_LINK_READY) {
            logUnansweredChoice();
        }
        if (markedOut != null && markSent && step != Step.DONE) {
            // Its urgent byte went: the rest of the choice must follow it before any byte of the stream.
            closeChoice();
            in.release();
            in = Unpooled.EMPTY_BUFFER;
            endOnceFlushed(null);
            return;
        }
        if (step != Step.DONE) {
            in.release();
            end();
        }
    }

    /** Whether this client's watch for a late offer let go of what it held (see {@link NegotiationHost#heldInboundReady}). */
    public boolean watchGivenUp() {
        return watchGivenUp;
    }

    /**
     * The channel's input is shut while the peer's mark is still awaited: this hello takes the socket and
     * reads on up to the mark, dropping what comes before it (the application wants no more), then takes
     * the late hello behind it as usual; true if so (false when no mark is awaited).
     */
    public boolean discardUntilMark() {
        if (step != Step.AWAIT_LINK_READY && step != Step.WATCH_MARK) {
            return false;
        }
        discardBeforeMark = true;
        return true;
    }

    /** {@link #discardUntilMark}: reads up to the mark, dropping the bytes; true once past it (the hello goes on). */
    private boolean discardToMark() throws IOException {
        MemorySegment scratch = Scratch.segment();
        while (true) {
            int n = socket.readBeforeMark(scratch.address(), Scratch.SIZE);
            if (n == NativeSocket.AT_MARK) {
                if (!markReached()) {
                    return false; // its urgent byte is still on the way
                }
                discardBeforeMark = false;
                return step != Step.DONE;
            }
            if (n == NativeSocket.EOF) {
                // The peer's stream ended before its mark: no late hello; tcp (the input is shut on it).
                if (step == Step.AWAIT_LINK_READY) {
                    logUnansweredChoice();
                }
                closeChoice();
                discardBeforeMark = false;
                finish(new TcpConnectionLink(channel, socket, config));
                return false;
            }
            if (n == 0) {
                return false;
            }
        }
    }

    private void logUnansweredChoice() {
        logOnce("the server's stream ended before it answered this client's late choice of " + name(chosenLink));
    }

    /** The hello is over (the channel drops its watch). */
    public boolean isDone() {
        return step == Step.DONE;
    }

    /**
     * Sends what is left of a marked message (its urgent byte, then its bytes); true once all went.
     * While some is left the channel watches for writability, and its own writes wait behind it.
     */
    public boolean flushMarked() throws IOException {
        if (markedOut == null) {
            return true;
        }
        if (!markSent) {
            if (!socket.trySendUrgent(Hello.LATE_MARKER)) {
                channel.watch(VSocketIoOps.OUT);
                return false;
            }
            markSent = true;
        }
        MemorySegment scratch = Scratch.segment();
        while (markedOut.isReadable()) {
            int length = Math.min(markedOut.readableBytes(), Scratch.SIZE);
            MemorySegment.copy(markedOut.array(), markedOut.arrayOffset() + markedOut.readerIndex(), scratch,
                    java.lang.foreign.ValueLayout.JAVA_BYTE, 0, length);
            long n = socket.write(scratch.address(), length);
            if (n <= 0) {
                channel.watch(VSocketIoOps.OUT);
                return false;
            }
            markedOut.skipBytes((int) n);
        }
        markedOut.release();
        markedOut = null;
        channel.unwatch(VSocketIoOps.OUT); // the channel's writes wait for the link: nothing else to write now
        if (step == Step.FLUSH_MARK) {
            ConnectionLink link = afterFlush;
            afterFlush = null;
            endOnceFlushed(link);
        }
        return true;
    }

    /** The hello is over, once its marked message went; {@code link}: what the channel goes on with (null: its own). */
    private void endOnceFlushed(ConnectionLink link) {
        if (markedOut == null) {
            if (link != null) {
                finish(link);
            } else {
                end();
            }
            return;
        }
        afterFlush = link;
        step = Step.FLUSH_MARK;
        if (timeout != null) {
            timeout.cancel(false);
        }
    }

    /** Answers the late offer the watch kept, as {@link #late} or {@link #marked} say; false if that failed the hello. */
    private boolean chooseLateOffer() {
        Hello.ServerHello offer = lateOffer;
        lateOffer = null;
        step = Step.AWAIT_SERVER_HELLO;
        try {
            choose(offer);
            return true;
        } catch (IOException | RuntimeException e) {
            fail(e);
            return false;
        }
    }

    /** What came after the late offer, or null; the watch is over. */
    public ByteBuf takeLeftover() {
        step = Step.DONE;
        closeOffers();
        if (in.isReadable()) {
            return in;
        }
        in.release();
        return null;
    }

    // ---- both ----

    /** The peer does not speak vsocket: plain TCP, if allowed. */
    private void plainPeer(String what) {
        if (!config.getLinks().contains(VSocketLink.TCP)) {
            fail(new VSocketLinkException("the peer " + channel.remoteAddress() + " " + what
                    + ", so it does not speak vsocket, and tcp is not among the allowed links " + config.getLinks()));
            return;
        }
        logger.debug("{}: the peer {}: plain tcp", channel, what);
        finish(new TcpConnectionLink(channel, socket, config));
    }

    private interface Encoder {
        void encode(ByteBuf out);
    }

    /**
     * Hellos are small and the socket new, so one non-blocking write always takes all of it — but a
     * marked one, which follows the application's bytes and may find the socket full: what is left of it
     * waits for writability ({@link #flushMarked()}).
     */
    private void write(Encoder encoder) throws IOException {
        if (marked) {
            if (markedOut != null) {
                throw new IllegalStateException("a marked hello is still going out");
            }
            markedOut = Unpooled.buffer(Hello.HEADER + Hello.MAX_BODY);
            encoder.encode(markedOut);
            markSent = false;
            flushMarked();
            return;
        }
        ByteBuf out = Unpooled.buffer(Hello.HEADER + Hello.MAX_BODY);
        try {
            encoder.encode(out);
            send(socket, out);
        } finally {
            out.release();
        }
    }

    /** Writes an encoded hello (a heap buffer) to the socket, whole, or throws. */
    static void send(NativeSocket socket, ByteBuf out) throws IOException {
        MemorySegment scratch = Scratch.segment();
        MemorySegment.copy(out.array(), out.arrayOffset() + out.readerIndex(), scratch,
                java.lang.foreign.ValueLayout.JAVA_BYTE, 0, out.readableBytes());
        long n = socket.write(scratch.address(), out.readableBytes());
        if (n != out.readableBytes()) {
            throw new VSocketLinkException("could not send the vsocket hello: " + n + " of " + out.readableBytes()
                    + " bytes went out");
        }
    }

    private void finish(ConnectionLink link) {
        if (markedOut != null) {
            endOnceFlushed(link); // the link-ready (or tcp) behind the mark first: see flushMarked
            return;
        }
        ByteBuf leftover = in.isReadable() ? in : null;
        if (leftover == null) {
            in.release();
        }
        end();
        channel.linkEstablished(link, leftover);
    }

    private void fail(Throwable cause) {
        if (step == Step.DONE) {
            return;
        }
        in.release();
        end();
        channel.negotiationFailed(cause);
    }

    /** The channel closed while the hello was under way. */
    public void abort() {
        if (step == Step.AWAIT_MARKER) {
            skipMarker();
        }
        if (step == Step.WATCH_LATE_HELLO && !watchGivenUp && OfferDrain.start(socket, in, config.getHelloTimeoutMillis())) {
            // A client closing before the server's late offer came, or before it read it: the offer
            // must not find the socket closed (see OfferDrain), which now owns what came of it.
            in = Unpooled.EMPTY_BUFFER;
        }
        if (step != Step.DONE) {
            in.release();
            end();
        }
    }

    /**
     * A server closing before it looked at the client's marker: takes it off the socket, or the close
     * would find it unread and reset the connection (a client that sent nothing else would see a
     * reset where a plain server's close gives it an end of stream). Reading past the mark skips the
     * urgent byte; at most one byte of the client's own goes with it, and a close with more unread
     * resets the connection as it would anyway.
     */
    private void skipMarker() {
        try {
            socket.readUrgent();
            socket.read(Scratch.address(), 1);
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: skipping the marker before the close", channel, e);
        }
    }

    private void end() {
        step = Step.DONE;
        if (markedOut != null) {
            markedOut.release(); // (a hello that fails or is aborted leaves no stream to put it in)
            markedOut = null;
        }
        if (afterFlush != null) {
            afterFlush.close();
            afterFlush = null;
        }
        if (timeout != null) {
            timeout.cancel(false);
        }
        closeOffers();
        if (accepting != null) {
            accepting.close();
            accepting = null;
        }
        closeChoice();
    }

    /** A server's offers that will not be taken: each gives back what it holds (shm: the rendezvous forgets the token). */
    private void closeOffers() {
        for (LinkHello.Offer offer : offers.values()) {
            offer.close();
        }
        offers.clear();
    }

    private void closeChoice() {
        if (choice != null) {
            choice.close();
            choice = null;
        }
    }

    private static String name(VSocketLink link) {
        return link.name().toLowerCase(Locale.ROOT);
    }

    private void logOnce(String reason) {
        if (!loggedFallback) {
            loggedFallback = true;
            logger.info("{}: falling back to tcp: {} (logged once)", channel, reason);
        } else {
            logger.debug("{}: falling back to tcp: {}", channel, reason);
        }
    }
}
