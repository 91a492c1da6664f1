package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.Resources;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.Scratch;
import io.vsocket.link.TcpConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.VSocketLinkException;
import io.vsocket.link.rdma.RdmaConnectionLink;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.link.rdma.RdmaLink;
import io.vsocket.link.rdma.RdmaLoop;
import io.vsocket.link.rdma.RdmaPort;
import io.vsocket.link.shm.ShmConnectionLink;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
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
 *               <-------------   server hello: token, links offered, ring size, host id, rendezvous
 *   (shm: memfd + doorbells over the rendezvous socket, with the token)
 *   client hello: token, link ->                    (rdma: with the client's queue pair and ring)
 *               <-------------   link ready: the link, or tcp and why   (shm and rdma only;
 *                                rdma: with the server's queue pair and ring)
 * </pre>
 *
 * A side that stopped waiting (a client for the offer, a server for the choice) goes on in tcp and
 * watches its peer's first bytes for the late hello ({@link #watchLateHello}): a client that has
 * sent nothing yet answers a late offer and the link is made as usual under its active channel
 * ({@link #upgrade()}); any other late hello is dropped, a late choice answered with "tcp".
 *
 * For rdma each side picks the device port whose RoCE address is the TCP connection's local
 * address. The server's queue pair is connected before it answers, the client's once it reads the
 * answer; the client then sends the first message over the link, and the server writes nothing
 * before that arrives (see {@link RdmaLink}).
 *
 * Event-loop thread only; one per connection, dropped once the link is known.
 */
public final class LinkNegotiation {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(LinkNegotiation.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The first fallback to tcp is logged at INFO, the rest at DEBUG. */
    private static volatile boolean loggedFallback;

    private enum Step {
        AWAIT_MARKER, AWAIT_SERVER_HELLO, AWAIT_CLIENT_HELLO, AWAIT_DESCRIPTORS, AWAIT_LINK_READY,
        /** A server whose rdma queue pair is connected, waiting for the client's first message on it. */
        AWAIT_RDMA_PEER,
        /** A client that gave up waiting: on tcp, but a late server hello may still lead the stream. */
        WATCH_LATE_HELLO,
        /** A server that stopped waiting for the choice: on tcp, but a late choice may still lead the stream. */
        WATCH_LATE_CHOICE,
        DONE
    }

    /**
     * A server waits this many hello timeouts for the client's choice: much longer than a client
     * waits for the offer, so that a client which gave up (and drops the late offer) is the only
     * case in which the server falls back on its own.
     */
    private static final int SERVER_PATIENCE = 10;

    private final NegotiationHost channel;
    private final NativeSocket socket;
    private final LinkSettings config;
    private final ByteBuf in = Unpooled.buffer(256);
    private Step step;
    private Future<?> timeout;
    private byte[] token;
    private Set<VSocketLink> offered;
    private ShmRendezvous rendezvous;
    private int[] descriptors;
    private Hello.ClientHello chosen;
    private ShmLink shmOffer;
    private RdmaLink rdmaOffer;
    /** A server's connected link, until the client's first message on it arrives. */
    private RdmaLink rdmaPending;
    /** A late offer this client answers (see {@link #watchLateHello}), until the switch is done. */
    private Hello.ServerHello lateOffer;
    /** This client answered a late offer from an active tcp channel: it falls back if the server moved on. */
    private boolean late;

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

    public LinkNegotiation(NegotiationHost channel, NativeSocket socket, LinkSettings config) {
        this.channel = channel;
        this.socket = socket;
        this.config = config;
    }

    /** The epoll interest while the hello is under way. */
    public int interest() {
        int flags = VSocketIoOps.IN | VSocketIoOps.RDHUP;
        return step == Step.AWAIT_MARKER ? flags | VSocketIoOps.PRI : flags;
    }

    public void startClient() throws IOException {
        socket.sendUrgent(Hello.CLIENT_MARKER);
        step = Step.AWAIT_SERVER_HELLO;
        // Giving up means plain tcp: without tcp allowed, wait as long as the connect timeout lets us.
        if (config.getLinks().contains(VSocketLink.TCP)) {
            armTimeout();
        }
    }

    public void startServer(ShmRendezvous rendezvous) {
        this.rendezvous = rendezvous;
        step = Step.AWAIT_MARKER;
        armTimeout();
        ready();
    }

    private void armTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
        }
        Step armedFor = step;
        boolean patient = step == Step.AWAIT_CLIENT_HELLO || step == Step.AWAIT_DESCRIPTORS
                || step == Step.AWAIT_RDMA_PEER;
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
            case AWAIT_CLIENT_HELLO -> stopWaitingForChoice();
            case AWAIT_LINK_READY -> fail(new VSocketLinkException("the server did not answer this client's choice of "
                    + "a link (made on its late offer) within " + lateAnswerMillis() + " ms"));
            case AWAIT_DESCRIPTORS -> shmFailed("the client's shared memory did not arrive within "
                    + SERVER_PATIENCE * config.getHelloTimeoutMillis() + " ms");
            case AWAIT_RDMA_PEER -> fail(new VSocketLinkException("the client's rdma queue pair sent nothing within "
                    + SERVER_PATIENCE * config.getHelloTimeoutMillis() + " ms of being made ready"));
            default -> {
            }
        }
    }

    /** The socket is readable (or urgent data arrived). */
    public void ready() {
        try {
            if (step == Step.AWAIT_MARKER) {
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
            while (step != Step.DONE && in.isReadable()) {
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
                    // The client gave up waiting for the offer and went on in plain tcp.
                    plainPeer("sent its own bytes instead of a choice");
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
        int n = socket.read(scratch.address(), Scratch.SIZE);
        if (n > 0) {
            in.writeBytes(scratch.asSlice(0, n).asByteBuffer());
        }
        if (in.readableBytes() > Hello.HEADER + Hello.MAX_BODY
                && (step == Step.AWAIT_DESCRIPTORS || step == Step.AWAIT_LINK_READY && !late)) {
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
        EnumSet<VSocketLink> links = EnumSet.noneOf(VSocketLink.class);
        List<VSocketLink> allowed = config.getLinks();
        String hostId = HostIdentity.local();
        if (allowed.contains(VSocketLink.SHM) && rendezvous != null && !hostId.isEmpty()) {
            links.add(VSocketLink.SHM);
            rendezvous.expect(token, this::descriptorsSent);
        }
        // Looked up first: where no device serves the address (most hosts), the context's "why not"
        // would cost every accepted connection an exception (some 20 µs of its hello).
        if (allowed.contains(VSocketLink.RDMA) && RdmaPort.of(socket.localAddress().getAddress()).isPresent()) {
            try {
                rdmaContext();
                links.add(VSocketLink.RDMA);
            } catch (IOException e) {
                logger.debug("{}: no rdma offered: {}", channel, e.getMessage());
            }
        }
        if (allowed.contains(VSocketLink.TCP)) {
            links.add(VSocketLink.TCP);
        }
        offered = links;
        write(out -> Hello.encode(new Hello.ServerHello(token, links, config.getRingSize(), hostId,
                rendezvous == null ? "" : rendezvous.name()), out));
        step = Step.AWAIT_CLIENT_HELLO;
        channel.negotiationInterestChanged();
        armTimeout();
    }

    /**
     * A client on this host that went on over tcp at once ({@link ShmUpgradeLink}): the offer leads
     * this side's stream, and the channel goes on over tcp now, moving onto shm once the client's
     * memory comes. Without shm here the offer says so, and the connection stays on tcp.
     */
    private void upgradingServer() throws IOException {
        List<VSocketLink> allowed = config.getLinks();
        String hostId = HostIdentity.local();
        boolean shm = allowed.contains(VSocketLink.SHM) && rendezvous != null && !hostId.isEmpty();
        if (!shm && !allowed.contains(VSocketLink.TCP)) {
            fail(new VSocketLinkException("the client " + channel.remoteAddress() + " went on over tcp at once, to "
                    + "move onto shm later, but this side allows neither: " + allowed));
            return;
        }
        byte[] offerToken = new byte[Hello.TOKEN_LENGTH];
        RANDOM.nextBytes(offerToken);
        EnumSet<VSocketLink> links = EnumSet.noneOf(VSocketLink.class);
        if (shm) {
            links.add(VSocketLink.SHM);
        }
        if (allowed.contains(VSocketLink.TCP)) {
            links.add(VSocketLink.TCP);
        }
        Hello.ServerHello offer = new Hello.ServerHello(offerToken, links, config.getRingSize(), hostId,
                shm ? rendezvous.name() : "");
        // The link waits for the memory before the offer goes, and sends the offer before its first bytes.
        ShmUpgradeLink upgrade = shm ? ShmUpgradeLink.server(channel, socket, config, rendezvous, offerToken) : null;
        try {
            if (upgrade != null) {
                ByteBuf encoded = Unpooled.buffer(Hello.HEADER + Hello.MAX_BODY);
                Hello.encode(offer, encoded);
                upgrade.offerFirst(encoded);
            } else {
                write(out -> Hello.encode(offer, out));
            }
            // One read past the mark: it takes the urgent byte off the stream (left there, it would turn
            // this side's close into a reset), with the client's first bytes if they came with it.
            readSome();
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
     * allowed): its marker is sent, and its channel goes on over tcp at once; null for any other
     * client, whose connect waits for the hello.
     */
    public static ConnectionLink upgradingClient(NegotiationHost host, NativeSocket socket, LinkSettings config)
            throws IOException {
        if (!ShmUpgradeLink.suits(config, socket.localAddress(), host.remoteAddress())) {
            return null;
        }
        // At once, not with the first bytes: a server that closes before any byte of the client's
        // comes would answer a later marker with a reset (Netty's SocketRstTest).
        socket.sendUrgent(Hello.UPGRADE_MARKER);
        return ShmUpgradeLink.client(host, socket, config);
    }

    /** On the rendezvous's loop: hand the descriptors over to this connection's loop. */
    private void descriptorsSent(int[] fds) {
        try {
            channel.eventLoop().execute(() -> descriptorsArrived(fds));
        } catch (RejectedExecutionException e) {
            closeQuietly(fds);
        }
    }

    private void descriptorsArrived(int[] fds) {
        if (step != Step.AWAIT_CLIENT_HELLO && step != Step.AWAIT_DESCRIPTORS || descriptors != null) {
            closeQuietly(fds);
            return;
        }
        descriptors = fds;
        if (step == Step.AWAIT_DESCRIPTORS) {
            attachShm();
        }
    }

    private void clientChose(Hello.ClientHello hello) throws IOException {
        if (!Arrays.equals(hello.token(), token)) {
            throw new HelloException("the client's hello carries a token this server did not issue");
        }
        if (!offered.contains(hello.link())) {
            throw new HelloException("the client chose " + hello.link() + ", which this server did not offer "
                    + offered);
        }
        chosen = hello;
        if (hello.link() == VSocketLink.TCP) {
            finish(new TcpConnectionLink(channel, socket, config));
            return;
        }
        LinkSettings.validateRingSize(hello.ringSize());
        if (in.isReadable()) {
            throw new HelloException("the client sent " + in.readableBytes() + " bytes after choosing " + hello.link());
        }
        if (hello.link() == VSocketLink.RDMA) {
            acceptRdma(hello.rdma());
            return;
        }
        if (descriptors != null) {
            attachShm();
        } else {
            step = Step.AWAIT_DESCRIPTORS;
            armTimeout();
        }
    }

    private void attachShm() {
        int[] fds = descriptors;
        descriptors = null;
        ShmLink link;
        try {
            link = ShmLink.attach(fds[0], fds[1], fds[2], chosen.ringSize(), config.getRingSize());
        } catch (IOException | RuntimeException e) {
            shmFailed("cannot map the client's shared memory: " + e.getMessage());
            return;
        }
        try {
            write(out -> Hello.encode(new Hello.LinkReady(VSocketLink.SHM, ""), out));
        } catch (IOException | RuntimeException e) {
            link.close();
            fail(e);
            return;
        }
        finish(new ShmConnectionLink(channel, socket, config, link));
    }

    /** The rdma context of this connection's loop for its local address; throws saying why there is none. */
    private RdmaContext rdmaContext() throws IOException {
        return RdmaLoop.context(channel.ioHandler(), socket.localAddress().getAddress());
    }

    /** The client chose rdma: connect a queue pair to its endpoint and answer with this side's. */
    private void acceptRdma(RdmaEndpoint client) {
        RdmaLink link = null;
        try {
            LinkSettings.validateRingSize(client.ringSize());
            link = rdmaContext().newLink(config.getRingSize());
            link.connect(client, false);
        } catch (IOException | RuntimeException e) {
            Resources.closeQuietly(link);
            linkFailed("rdma: " + e.getMessage());
            return;
        }
        RdmaEndpoint local = link.local();
        try {
            write(out -> Hello.encode(new Hello.LinkReady(VSocketLink.RDMA, "", local), out));
        } catch (IOException | RuntimeException e) {
            link.close();
            fail(e);
            return;
        }
        // Active only once the client's queue pair receives (its first message says so): a handler
        // may write in channelActive and even block the loop there until the client has the bytes.
        rdmaPending = link;
        step = Step.AWAIT_RDMA_PEER;
        armTimeout();
        link.listener(this::rdmaPeerActivity);
    }

    /** Completions for the server's link while it waits for the client's first message. */
    private void rdmaPeerActivity() {
        RdmaLink link = rdmaPending;
        if (link == null || step != Step.AWAIT_RDMA_PEER) {
            return;
        }
        if (link.failure() != null) {
            fail(new VSocketLinkException("the rdma link failed before the client's first message: "
                    + link.failure().getMessage(), link.failure()));
        } else if (link.peerReady()) {
            rdmaPending = null;
            link.listener(null);
            finish(new RdmaConnectionLink(channel, socket, config, link));
        }
    }

    private void shmFailed(String reason) {
        linkFailed("shm: " + reason);
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
        dropShmHandover();
        step = Step.WATCH_LATE_CHOICE;
        channel.linkEstablishedWatchingLateHello(this);
    }

    // ---- client side ----

    private void choose(Hello.ServerHello hello) throws IOException {
        token = hello.token();
        StringBuilder refused = new StringBuilder();
        for (VSocketLink link : config.getLinks()) {
            if (!hello.links().contains(link)) {
                continue;
            }
            switch (link) {
                case SHM -> {
                    String reason = offerShm(hello);
                    if (reason == null) {
                        write(out -> Hello.encode(new Hello.ClientHello(token, VSocketLink.SHM, config.getRingSize()), out));
                        // No timer of its own: the server speaks vsocket and will answer; the connect
                        // timeout bounds the wait.
                        step = Step.AWAIT_LINK_READY;
                        if (timeout != null) {
                            timeout.cancel(false);
                        }
                        return;
                    }
                    refused.append("; shm: ").append(reason);
                }
                case RDMA -> {
                    String reason = offerRdma(hello);
                    if (reason == null) {
                        RdmaEndpoint local = rdmaOffer.local();
                        write(out -> Hello.encode(new Hello.ClientHello(token, VSocketLink.RDMA, config.getRingSize(),
                                local), out));
                        step = Step.AWAIT_LINK_READY;
                        if (timeout != null) {
                            timeout.cancel(false);
                        }
                        return;
                    }
                    refused.append("; rdma: ").append(reason);
                }
                case TCP -> {
                    write(out -> Hello.encode(new Hello.ClientHello(token, VSocketLink.TCP, config.getRingSize()), out));
                    finish(new TcpConnectionLink(channel, socket, config));
                    return;
                }
            }
        }
        throw new VSocketLinkException("no common link with " + channel.remoteAddress() + ": this side allows "
                + config.getLinks() + ", the server offers " + hello.links() + refused);
    }

    /** Sets up shared memory and sends it to the server's rendezvous; null on success, else why not. */
    private String offerShm(Hello.ServerHello hello) {
        String why = shmRefused(hello);
        if (why != null) {
            return why;
        }
        try {
            shmOffer = ShmRendezvous.handOver(hello.rendezvous(), token, config.getRingSize(), hello.ringSize());
        } catch (IOException e) {
            return e.getMessage();
        }
        return null;
    }

    /** Why this side cannot take the shm an offer makes possible (another host, a bad ring size), or null. */
    static String shmRefused(Hello.ServerHello hello) {
        String local = HostIdentity.local();
        if (local.isEmpty() || !local.equals(hello.hostId())) {
            return "the server is on another host, network namespace or user";
        }
        if (hello.ringSize() < LinkSettings.MIN_RING_SIZE || hello.ringSize() > LinkSettings.MAX_RING_SIZE
                || Integer.bitCount(hello.ringSize()) != 1) {
            return "the server asked for a ring of " + hello.ringSize() + " bytes";
        }
        return null;
    }

    /** Sets up this side's queue pair and ring; null on success, else why not. */
    private String offerRdma(Hello.ServerHello hello) {
        try {
            rdmaOffer = rdmaContext().newLink(config.getRingSize());
            return null;
        } catch (IOException | RuntimeException e) {
            return e.getMessage();
        }
    }

    private void linkReady(Hello.LinkReady ready) throws IOException {
        if (ready.link() == VSocketLink.RDMA) {
            if (rdmaOffer == null) {
                throw new HelloException("the server made rdma ready, which this side did not choose");
            }
            if (in.isReadable()) {
                throw new HelloException("the server sent " + in.readableBytes() + " bytes after making rdma ready");
            }
            LinkSettings.validateRingSize(ready.rdma().ringSize());
            RdmaLink link = rdmaOffer;
            rdmaOffer = null;
            try {
                // The server's queue pair is ready: this one may write at once, and says so first.
                link.connect(ready.rdma(), true);
            } catch (IOException | RuntimeException e) {
                link.close();
                throw new VSocketLinkException("cannot connect the rdma queue pair the server made ready: "
                        + e.getMessage(), e);
            }
            finish(new RdmaConnectionLink(channel, socket, config, link));
            return;
        }
        if (ready.link() == VSocketLink.SHM) {
            if (shmOffer == null) {
                throw new HelloException("the server made shm ready, which this side did not choose");
            }
            if (in.isReadable()) {
                throw new HelloException("the server sent " + in.readableBytes() + " bytes after making shm ready");
            }
            ShmLink link = shmOffer;
            shmOffer = null;
            finish(new ShmConnectionLink(channel, socket, config, link));
            return;
        }
        logOnce("the server could not set the chosen link up: " + ready.reason());
        if (shmOffer != null) {
            shmOffer.close();
            shmOffer = null;
        }
        if (rdmaOffer != null) {
            rdmaOffer.close();
            rdmaOffer = null;
        }
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
        int n = readSome();
        if (!in.isReadable()) {
            return n < 0 ? WATCH_EOF : WATCHING;
        }
        if (!Hello.startsLikeHello(in)) {
            return WATCH_DONE;
        }
        Hello.Message message;
        try {
            message = Hello.decode(in);
        } catch (HelloException e) {
            return WATCH_DONE; // the peer's own bytes after all, however unlikely
        }
        if (message == null) {
            return n < 0 ? WATCH_DONE : WATCHING;
        }
        if (step == Step.WATCH_LATE_HELLO && message instanceof Hello.ServerHello offer && !in.isReadable()
                && !sentSince && n >= 0) {
            lateOffer = offer;
            return WATCH_UPGRADE;
        }
        if (step == Step.WATCH_LATE_CHOICE && message instanceof Hello.ClientHello choice
                && Arrays.equals(choice.token(), token) && choice.link() != VSocketLink.TCP && !sentSince) {
            // (A choice of tcp waits for no answer, as in a timely hello.)
            logger.debug("{}: a late choice of {}: answered with tcp", channel, choice.link());
            write(out -> Hello.encode(new Hello.LinkReady(VSocketLink.TCP,
                    "the choice came after this server stopped waiting for it"), out));
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
        Hello.ServerHello offer = lateOffer;
        lateOffer = null;
        late = true;
        step = Step.AWAIT_SERVER_HELLO;
        try {
            choose(offer);
        } catch (IOException | RuntimeException e) {
            fail(e);
            return;
        }
        if (step == Step.AWAIT_LINK_READY) {
            armTimeout();
            logger.debug("{}: answered a late offer", channel);
        }
    }

    /** What came after the late offer, or null; the watch is over. */
    public ByteBuf takeLeftover() {
        step = Step.DONE;
        dropShmHandover();
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

    /** Hellos are small and the socket new, so one non-blocking write always takes all of it. */
    private void write(Encoder encoder) throws IOException {
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
        if (timeout != null) {
            timeout.cancel(false);
        }
        dropShmHandover();
        if (shmOffer != null) {
            shmOffer.close();
            shmOffer = null;
        }
        if (rdmaOffer != null) {
            rdmaOffer.close();
            rdmaOffer = null;
        }
        if (rdmaPending != null) {
            // The client's side is connected and may already be active: it gets an end of stream
            // (or a reset, for an abortive close), as over TCP, not silence.
            RdmaConnectionLink.end(rdmaPending, RingConnectionLink.closeIsAbortive(socket), channel.eventLoop());
            rdmaPending = null;
        }
    }

    /** A server's side of a shm set-up that will not happen: the rendezvous forgets it, descriptors that came are closed. */
    private void dropShmHandover() {
        if (rendezvous != null && token != null) {
            rendezvous.forget(token);
        }
        if (descriptors != null) {
            closeQuietly(descriptors);
            descriptors = null;
        }
    }

    static void closeQuietly(int[] fds) {
        for (int fd : fds) {
            FileDescriptors.closeQuietly(fd);
        }
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
