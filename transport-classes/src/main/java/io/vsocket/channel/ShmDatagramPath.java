package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.datagram.PeerResolver;
import io.vsocket.datagram.PeerRoute;
import io.vsocket.datagram.ShmDatagramLink;
import io.vsocket.handshake.Hello;
import io.vsocket.link.Resources;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.loop.VSocketLoopPoller;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.Doorbell;
import io.vsocket.unix.UnixSocket;
import org.agrona.collections.Object2ObjectHashMap;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The shm side of one {@link VSocketDatagramChannel}: datagrams to and from channels of other
 * processes (or this one) on this host, over {@link ShmDatagramLink}s, without a system call while
 * both loops spin.
 *
 * <p>How a sender finds a receiver: each channel listens on an abstract Unix socket named after
 * its UDP address ({@link #nameOf}: {@code vsocket/udp/<address>:<port>}, the address {@code *}
 * when bound to the wildcard), which only a process of the same network namespace can reach. A
 * sender that finds that name for a datagram's recipient on this host (and the listener is of its
 * own user) asks the recipient over UDP, as for UD ({@link io.vsocket.datagram.PeerResolver});
 * the recipient offers shm only to a requester on this host. The sender presents the request's
 * nonce at the rendezvous with the link's memfd, and the recipient confirms the link
 * in its first record with the token it handed out in the reply: so the link is tied to the
 * sender's UDP address as the recipient's kernel reported it (the one its application sees), and
 * the sender takes the link only from the process that owns the recipient's UDP port (a process of
 * the same user may have bound the name first). Nothing goes over a link before it is confirmed. A
 * peer without the name (NIO, a plain UDP program) is never asked anything.
 *
 * <p>The Unix connection of the set-up stays open as long as the link, on both sides, as its doorbell:
 * its hang-up tells either side that the other closed the link or died (a killed process sets no flag in the
 * shared page). One link carries both directions; where both sides set one up at once, each sends
 * on the first and reads from both. A peer that breaks the record format loses its link and
 * nothing else; one that publishes half a record holds only that link. Datagrams for a link whose
 * ring is full are dropped, as the kernel drops them for a full receive buffer (never rerouted over
 * UDP: that would reorder them). Event-loop thread only.
 */
final class ShmDatagramPath implements VSocketLoopPoller {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmDatagramPath.class);
    /**
     * Each direction's ring at the least: room for a few of the largest datagrams, and for as many
     * small ones as the kernel's default receive buffer holds; pages are touched only as used. The
     * ring a side reads from follows its {@code SO_RCVBUF} where that is larger ({@link #ringShift}):
     * each side asks for its own, the receiver in its reply to the resolution, the sender when it
     * makes the link.
     */
    static final int RING_SIZE = PeerResolver.SHM_RING_UNIT;
    /**
     * How long a look for a peer's rendezvous holds: a look is three system calls beside a datagram
     * to a plain UDP peer, and a vsocket channel that binds the port later (or a plain program that
     * takes over a vsocket channel's port) is seen this long after.
     */
    static final long LOOK_AGAIN_NANOS = TimeUnit.SECONDS.toNanos(1);
    /**
     * How many datagrams a channel sends a peer over UDP within {@link #LOOK_AGAIN_NANOS} before it looks
     * for the peer's rendezvous and asks it for shm ({@code -Dio.vsocket.datagramShmAfter}, at least 1): a
     * set-up costs both sides some hundreds of microseconds (the look, the resolution's request and reply,
     * a memfd made, sealed and mapped by both, the confirmation, and both closes), which a peer sent one
     * datagram or two — a query and its answer, a client channel made per request — never earns back:
     * such clients of one echo server cost 4x epoll's CPU each with a set-up apiece (2026-12-07), and
     * as much as epoll's without one. Traffic that goes on earns it within its first datagrams.
     */
    static final int DATAGRAMS_BEFORE_SHM = Math.max(1, Integer.getInteger("io.vsocket.datagramShmAfter", 4));
    /** How long the rendezvous waits for a requester that was offered shm: as long as its token lives. */
    private static final long EXPECT_NANOS = PeerResolver.Config.DEFAULT.inboundLifetime();
    /** How long a link this side set up waits for the peer's confirmation before it is given up. */
    static final long CONFIRM_MILLIS = 2000;
    /** How long a listing of the interfaces' addresses is used: addresses come and go rarely. */
    private static final long LOCAL_ADDRESSES_MAX_AGE_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** This host's interface addresses, as last listed, and when (shared by every loop). */
    private static volatile Set<InetAddress> localAddresses = Set.of();
    private static volatile long localAddressesListedAt = System.nanoTime() - LOCAL_ADDRESSES_MAX_AGE_NANOS;

    private final VSocketDatagramChannel channel;
    /** Set once, by the path this side belongs to, before any link exists. */
    private DatagramPath path;
    private final VSocketIoHandler loop;
    private final ShmRendezvous rendezvous;
    /** The link each peer's datagrams are sent on. */
    private final Object2ObjectHashMap<InetSocketAddress, ShmDatagramLink> sendVia = new Object2ObjectHashMap<>();
    /** Every link, read on every poll. */
    private final ArrayList<Attached> links = new ArrayList<>();
    /** Peers looked for, with the rendezvous name found (or {@link #NOT_FOUND}) and when to look again. */
    private final Object2ObjectHashMap<InetSocketAddress, Look> looks = new Object2ObjectHashMap<>();
    /** The set-up each requester offered shm may present (its latest request's nonce), and until when. */
    private final Object2ObjectHashMap<InetSocketAddress, Expected> expected = new Object2ObjectHashMap<>();
    private boolean polling;
    private boolean closed;
    /** Which link the next poll starts at (see {@link #poll}). */
    private int rotation;
    private long sent;
    private long received;
    private long dropped;

    private static final String NOT_FOUND = "";

    /**
     * A look for a peer's rendezvous: the name, or {@link #NOT_FOUND}, good until {@code until}; before
     * it, the datagrams sent the peer since {@code until - LOOK_AGAIN_NANOS} (name null).
     */
    private static final class Look {
        String name;
        long until;
        int sent;
    }

    /** What a requester offered shm presents at the rendezvous, the token that confirms its link, and until when. */
    private record Expected(byte[] key, long token, int ring, long until) {
    }

    private ShmDatagramPath(VSocketDatagramChannel channel, VSocketIoHandler loop, ShmRendezvous rendezvous) {
        this.channel = channel;
        this.loop = loop;
        this.rendezvous = rendezvous;
    }

    /** A shm side for a channel bound at {@code local}, or null (saying why at debug level) when its name is taken. */
    static ShmDatagramPath open(VSocketDatagramChannel channel, VSocketIoHandler loop, InetSocketAddress local) {
        String name = nameOf(local.getAddress(), local.getPort());
        try {
            return new ShmDatagramPath(channel, loop, ShmRendezvous.open((IoEventLoop) channel.eventLoop(), name));
        } catch (IOException | RuntimeException e) {
            // Another socket on the same port (both set SO_REUSEADDR) took the name first.
            logger.debug("{}: no shm datagrams to this channel: {} ({})", channel, name, e.getMessage());
            return null;
        }
    }

    /** The path that hands this side's datagrams to the channel and resolves its peers. */
    void path(DatagramPath path) {
        this.path = path;
    }

    /**
     * The receive ring, as a shift of {@link #RING_SIZE}, for a receive buffer the kernel reports as
     * {@code reported} bytes (twice what the application asked): the smallest power of two that holds
     * what was asked, from {@link #RING_SIZE} to 32 MiB.
     */
    static int ringShift(int reported) {
        long asked = reported / 2;
        int shift = 0;
        while (shift < PeerResolver.MAX_SHM_RING_SHIFT && ((long) RING_SIZE << shift) < asked) {
            shift++;
        }
        return shift;
    }

    /** The rendezvous name of a channel bound at {@code address}:{@code port}. */
    static String nameOf(InetAddress address, int port) {
        return "vsocket/udp/" + (address.isAnyLocalAddress() ? "*" : plain(address).getHostAddress()) + ":" + port;
    }

    /** An IPv4-mapped IPv6 address as the IPv4 address it is (the JDK makes one of its bytes). */
    private static InetAddress plain(InetAddress address) {
        if (address instanceof Inet6Address) {
            try {
                return InetAddress.getByAddress(address.getAddress());
            } catch (java.net.UnknownHostException e) {
                throw new AssertionError(e);
            }
        }
        return address;
    }

    /**
     * The confirmed link datagrams to {@code to} go on, or null (send over UD or UDP). A link not
     * yet confirmed carries nothing: its datagrams go the other way meanwhile.
     */
    ShmDatagramLink linkTo(InetSocketAddress to) {
        ShmDatagramLink link = sendVia.get(to);
        if (link == null) {
            return null;
        }
        if (link.peerClosed()) {
            peerGone(link, false);
            return null;
        }
        if (!link.confirmed()) {
            try {
                link.next(); // the confirmation may be there: no poll has read it yet
            } catch (RingProtocolException e) {
                logger.debug("{}: the shm link to {} broke: {}", channel, to, e.getMessage());
                drop(link, true);
                return null;
            }
        }
        return link.confirmed() ? link : null;
    }

    /** Whether a link to {@code to} is set up (confirmed or not): then no other is. */
    boolean hasLinkTo(InetSocketAddress to) {
        return sendVia.containsKey(to);
    }

    /**
     * Writes {@code data} into {@code link} (published at {@link #flush()}); a datagram the ring has
     * no room for is dropped, as the kernel drops one for a full receive buffer.
     */
    void send(ShmDatagramLink link, ByteBuf data) {
        try {
            if (link.send(data)) {
                sent++;
            } else {
                dropped++;
            }
        } catch (RingProtocolException e) {
            logger.debug("{}: the shm link to {} broke: {}", channel, link.peer(), e.getMessage());
            drop(link, true);
        }
    }

    void flush() {
        for (int i = 0; i < links.size(); i++) {
            links.get(i).link.flush();
        }
    }

    /**
     * Whether {@code to} is on this host and has a rendezvous (a vsocket channel of this user
     * listens for it): then its resolution asks for shm. Called for each datagram sent {@code to}
     * without a link; the look comes with the {@link #DATAGRAMS_BEFORE_SHM}th of them within
     * {@link #LOOK_AGAIN_NANOS}, and holds that long (a name found is looked for again at once then).
     */
    boolean hasRendezvous(InetSocketAddress to, long now) {
        Look look = looks.get(to);
        if (look == null) {
            if (looks.size() >= 4096) {
                looks.clear();
            }
            look = new Look();
            look.until = now + LOOK_AGAIN_NANOS;
            looks.put(to, look);
        } else if (now - look.until >= 0) {
            look.until = now + LOOK_AGAIN_NANOS;
            if (look.name != null && look.name != NOT_FOUND) {
                look.name = lookFor(to); // found before (its resolution may be under way): again at once
                return look.name != NOT_FOUND;
            }
            look.name = null; // counted anew: a peer that bound since earns its look as a new one does
            look.sent = 0;
        }
        if (look.name == null) {
            if (++look.sent < DATAGRAMS_BEFORE_SHM) {
                return false;
            }
            look.name = lookFor(to);
            look.until = now + LOOK_AGAIN_NANOS;
        }
        return look.name != NOT_FOUND;
    }

    /** The name {@code to}'s rendezvous listens on, or {@link #NOT_FOUND}. */
    private static String lookFor(InetSocketAddress to) {
        InetAddress address = plain(to.getAddress());
        if (!isLocal(address)) {
            return NOT_FOUND; // another host: nothing of it listens here (and nothing is asked)
        }
        String exact = nameOf(address, to.getPort());
        if (listening(exact)) {
            return exact;
        }
        // A channel bound to the wildcard receives on every local address.
        String wildcard = "vsocket/udp/*:" + to.getPort();
        return listening(wildcard) ? wildcard : NOT_FOUND;
    }

    private static boolean listening(String name) {
        try (UnixSocket probe = UnixSocket.connect(name)) {
            return probe.peerCredentials().uid() == UnixSocket.currentUid();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Whether {@code address} is this host's: loopback, or an interface's (listed at most every 5 s,
     * so a peer on another host costs no system call per datagram).
     */
    static boolean isLocal(InetAddress address) {
        if (address.isLoopbackAddress() || address.isAnyLocalAddress()) {
            return true;
        }
        long now = System.nanoTime();
        if (now - localAddressesListedAt >= LOCAL_ADDRESSES_MAX_AGE_NANOS) {
            Set<InetAddress> listed = new HashSet<>();
            try {
                for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                    for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                        listed.add(plain(a));
                    }
                }
            } catch (SocketException e) {
                logger.debug("cannot list this host's addresses: {}", e.getMessage());
            }
            localAddresses = listed;
            localAddressesListedAt = now;
        }
        return localAddresses.contains(plain(address));
    }

    /**
     * Sets up a link to {@code to}, which offered shm in its reply: creates the rings and hands them
     * to its rendezvous with the request's nonce, keeping the connection as the link's doorbell and
     * lifeline. False (the caller forgets the offer) when that fails. The link carries
     * datagrams once the peer confirms it.
     */
    boolean connect(InetSocketAddress to, PeerRoute peer, int ownRingShift) {
        Look look = looks.get(to);
        if (look == null || look.name == null || look.name == NOT_FOUND) {
            return false;
        }
        ShmLink.Offer offer;
        try {
            // The offering side is the link's client: its ring first, then the one the peer asked for.
            offer = ShmLink.offer(RING_SIZE << ownRingShift, peer.shmRing());
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: no shared memory for datagrams to {}: {}", channel, to, e.getMessage());
            return false;
        }
        UnixSocket connection = null;
        ShmLink shm;
        try (offer) { // sent (or not): the peer holds its own copy of the memfd
            connection = UnixSocket.connect(look.name);
            if (connection.peerCredentials().uid() != UnixSocket.currentUid()) {
                throw new IOException(look.name + " belongs to another user");
            }
            connection.send(key(peer.shmNonce()), offer.descriptors());
            shm = offer.link(Doorbell.adopt(connection.release()));
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: cannot reach the shm rendezvous of {}: {}", channel, to, e.getMessage());
            Resources.closeQuietly(connection);
            looks.remove(to);
            return false;
        }
        ShmDatagramLink link = ShmDatagramLink.offered(shm, to, peer.token());
        add(link);
        // A rendezvous that did not expect the nonce (the peer restarted on the same port since it
        // answered) closes the connection, which drops the link; one that never confirms is let go.
        channel.eventLoop().schedule(() -> {
            if (!closed && !link.confirmed() && link.isOpen()) {
                logger.debug("{}: {} did not confirm its shm link; datagrams to it go over UDP", channel, to);
                drop(link, true);
            }
        }, CONFIRM_MILLIS, TimeUnit.MILLISECONDS);
        return true;
    }

    private static byte[] key(long nonce) {
        byte[] key = new byte[Hello.TOKEN_LENGTH];
        Unpooled.wrappedBuffer(key).setLong(0, nonce);
        return key;
    }

    /** Whether a requester at {@code address} may be offered shm: only one on this host can map its memory. */
    boolean offersTo(InetSocketAddress requester) {
        return isLocal(requester.getAddress());
    }

    /**
     * The resolver offered shm to {@code requester}: its link may arrive at the rendezvous with the
     * request's {@code nonce}, and is confirmed with {@code token}. One set-up per requester waits
     * (its latest), as long as the token lives.
     */
    void expect(InetSocketAddress requester, long token, long nonce, int ringShift) {
        long now = System.nanoTime();
        Expected before = expected.get(requester);
        if (before != null) {
            rendezvous.forget(before.key());
        } else if (expected.size() >= 4096) {
            sweepExpected(now);
        }
        byte[] key = key(nonce);
        expected.put(requester, new Expected(key, token, RING_SIZE << ringShift, now + EXPECT_NANOS));
        rendezvous.expect(key, fds -> attach(requester, key, fds));
    }

    /** Forgets the set-ups that waited too long; the resolver's expiry sweep calls it every few seconds. */
    void sweepExpected(long now) {
        for (var it = expected.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (now - e.getValue().until() >= 0) {
                rendezvous.forget(e.getValue().key());
                it.remove();
            }
        }
    }

    private void attach(InetSocketAddress requester, byte[] key, int[] fds) {
        Expected e = expected.get(requester);
        if (e != null && e.key() == key) {
            expected.remove(requester);
        }
        ShmLink shm;
        try {
            // This side's ring is the size its offer asked for; the requester's own, whatever power of
            // two it made (within the rings' bounds), is what the memory holds beside it. (A set-up
            // nobody expects any more is mapped only to be closed below: attach owns the descriptors.)
            int ring = e != null && e.key() == key ? e.ring() : RING_SIZE;
            shm = ShmLink.attach(fds[0], fds[1], 0, ring);
        } catch (IOException | RuntimeException ex) {
            logger.debug("{}: refused the shm link of {}: {}", channel, requester, ex.getMessage());
            return;
        }
        if (closed || e == null || e.key() != key) {
            shm.markClosed();
            shm.close();
            return;
        }
        ShmDatagramLink link = ShmDatagramLink.attached(shm, requester);
        try {
            link.confirm(e.token());
        } catch (RingProtocolException | RuntimeException ex) {
            logger.debug("{}: cannot confirm the shm link of {}: {}", channel, requester, ex.getMessage());
            link.close();
            return;
        }
        // A link of this requester's that is still here is an earlier one it gave up (it sets up one
        // at a time): the new one carries this side's datagrams to it.
        ShmDatagramLink earlier = sendVia.get(requester);
        add(link);
        if (earlier != null && !earlier.isOffered()) {
            sendVia.put(requester, link);
        }
        // Datagrams may be in it already, and no doorbell rang for them.
        channel.eventLoop().execute(this::pollNow);
    }

    private void add(ShmDatagramLink link) {
        sendVia.putIfAbsent(link.peer(), link);
        Attached attached = new Attached(link);
        links.add(attached);
        attached.watch((IoEventLoop) channel.eventLoop());
        if (!polling) {
            polling = true;
            loop.addPoller(this);
        }
    }

    /**
     * Closes {@code link} and forgets it; the resolver forgets the peer's shm offer too, so that
     * the next datagram to it asks again ({@code failed}: after a backoff) and finds whoever is at
     * its address then.
     */
    private void drop(ShmDatagramLink link, boolean failed) {
        Attached a = attachedOf(link);
        if (a == null || !a.peerGone) {
            stopSendingOver(link, failed); // (done already for a link whose peer went)
        }
        if (a != null) {
            links.remove(a);
            a.drop();
        }
    }

    /**
     * The peer of {@code link} is gone (it closed the link, or its process ended): nothing more is sent
     * over it, and what the peer wrote before it went is still read — every whole record, over as many
     * turns as the channel's messages per read need — before the link goes ({@link #poll}). Dropping it
     * after one turn lost the rest (a probe, 2026-12-06: a sender that closed right after its writes
     * succeeded, 38 of 64 runs, where loopback UDP's receiver gets them all).
     */
    private void peerGone(ShmDatagramLink link, boolean failed) {
        Attached a = attachedOf(link);
        if (a == null) {
            stopSendingOver(link, failed);
            return;
        }
        if (!a.peerGone && !a.dropped) {
            a.peerGone = true;
            stopSendingOver(link, failed);
        }
    }

    /** No datagram goes over {@code link} from now on; the resolver forgets the peer's offer (see {@link #drop}). */
    private void stopSendingOver(ShmDatagramLink link, boolean failed) {
        looks.remove(link.peer());
        path.shmGone(link.peer(), failed);
        if (sendVia.get(link.peer()) == link) {
            sendVia.remove(link.peer());
            // Another link from that peer, if any, takes over.
            for (int i = 0; i < links.size(); i++) {
                Attached other = links.get(i);
                if (other.link != link && !other.peerGone && other.link.peer().equals(link.peer())) {
                    sendVia.put(link.peer(), other.link);
                    break;
                }
            }
        }
    }

    private Attached attachedOf(ShmDatagramLink link) {
        for (int i = 0; i < links.size(); i++) {
            if (links.get(i).link == link) {
                return links.get(i);
            }
        }
        return null;
    }

    /** Reads every link: each whole datagram to the channel ({@link DatagramPath#receivedShm}). */
    @Override
    public int poll() {
        int handled = 0;
        // A turn hands the pipeline at most the allocator's messages per read, as a socket read turn
        // does; what is left waits in the rings for the next turn (which the loop does not block
        // before: armAndCheck sees it). The turns start at each link in turn, so none is starved.
        int budget = channel.maxMessagesPerRead();
        int count = links.size();
        int first = count == 0 ? 0 : Math.floorMod(rotation++, count);
        boolean socketTurnTaken = false;
        for (int k = 0; k < count && handled < budget; k++) {
            if (closed) {
                break; // a handler closed the channel
            }
            int i = count - 1 - Math.floorMod(first + k, count);
            if (i >= links.size()) {
                continue;
            }
            Attached a = links.get(i);
            ShmDatagramLink link = a.link;
            link.link().unpark();
            try {
                boolean drained = false;
                while (handled < budget) {
                    int length = link.next();
                    if (length < 0) {
                        drained = true; // (no whole record: a record half written waits, unless its writer is gone)
                        break;
                    }
                    if (!a.socketReadFirst) {
                        // Before a link's first datagram, what the channel's socket holds: the peer sent
                        // over UDP until the link was confirmed, and on this host each of those datagrams
                        // was in the socket before the peer could write this record, so reading them
                        // first keeps the peer's order across the change of path (as loopback UDP keeps it).
                        // One read turn of the socket a poll (as its readiness would get) till it is read
                        // past them; the link's datagrams wait meanwhile. (All at once, capped at 64 turns,
                        // before: a receiver behind by more than that got them out of order.)
                        if (socketTurnTaken) {
                            break; // the next poll's turn
                        }
                        socketTurnTaken = true;
                        if (!readSocketBefore(a)) {
                            handled++; // (the turn read some: the loop goes on polling, as for a datagram)
                            break;
                        }
                        if (a.dropped || closed) {
                            break;
                        }
                    }
                    handled++;
                    received++;
                    if (!path.receivedShm(link, length)) {
                        link.skipPayload();
                    }
                    if (a.dropped || closed) {
                        break;
                    }
                }
                if (a.peerGone && !a.dropped && !closed && (drained || --a.turnsLeft <= 0)) {
                    drop(link, false); // its peer's last datagrams read: the link goes
                }
            } catch (RingProtocolException e) {
                logger.debug("{}: the shm link from {} broke: {}", channel, link.peer(), e.getMessage());
                drop(link, true);
            }
        }
        if (handled > 0 && !closed) {
            path.afterDatagrams();
        }
        return handled;
    }

    /**
     * One read turn of the channel's socket before {@code a}'s first datagram: true once the socket is
     * read past what it held when that datagram came — read dry, or as much read as its queue can hold
     * (so a socket that other senders keep busy does not hold the link back for good).
     */
    private boolean readSocketBefore(Attached a) {
        if (a.socketBacklog < 0) {
            a.socketBacklog = channel.socketQueueBound();
        }
        long read = channel.readSocketTurn();
        if (read >= 0 && (a.socketBacklog -= read) > 0 && !closed && !a.dropped) {
            return false;
        }
        a.socketReadFirst = true;
        return true;
    }

    private void pollNow() {
        if (!closed) {
            poll();
        }
    }

    /**
     * Asks each link's peer to ring on new records, and looks once more. Only a whole datagram (or
     * a peer gone) keeps the loop awake: a peer that publishes half a record, or marks its output
     * done, must not keep it spinning.
     */
    @Override
    public boolean armAndCheck() {
        for (int i = 0; i < links.size(); i++) {
            Attached a = links.get(i);
            ShmDatagramLink link = a.link;
            if (a.peerGone) {
                return true; // the next poll reads what is left and drops the link
            }
            try {
                link.link().park(true, false, false);
                if (link.next() >= 0 || link.peerClosed()) {
                    return true;
                }
            } catch (RingProtocolException e) {
                return true; // the next poll finds it and drops the link
            }
        }
        return false;
    }

    /** Datagrams written into peers' rings. */
    long sent() {
        return sent;
    }

    /** Datagrams dropped because a peer's ring had no room for them (as for a full socket buffer). */
    long dropped() {
        return dropped;
    }

    /** Datagrams read from this channel's rings. */
    long received() {
        return received;
    }

    /** Links open now (both directions of each, and both links where two sides set one up at once). */
    int links() {
        return links.size();
    }

    /** Closes the rendezvous and every link (each peer learns it), and leaves the loop's pollers; idempotent. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        rendezvous.close();
        for (Attached a : links) {
            a.drop();
        }
        links.clear();
        sendVia.clear();
        expected.clear();
        if (polling) {
            polling = false;
            loop.removePoller(this);
        }
    }

    /** See {@link Attached#turnsLeft}: 256 KiB of 64-byte datagrams, 16 a poll. */
    private static final int GONE_TURNS = 4096;

    /**
     * One link, its doorbell watched on the loop: the set-up's Unix connection, which the peer rings
     * when it wrote and this side sleeps, and which hangs up when the peer closes the link or its
     * process ends (its lifeline).
     */
    private final class Attached implements VSocketIoHandle {
        final ShmDatagramLink link;
        private IoRegistration doorbell;
        boolean dropped;
        /** The peer is gone: nothing is sent over the link, which goes once its ring is read (see {@link #peerGone}). */
        boolean peerGone;
        /**
         * Polls left to a link whose peer is gone: a ring's worth of datagrams takes far fewer, and a process
         * that writes on after it hung up (a hostile one) keeps the link, and the loop awake, no longer.
         */
        int turnsLeft = GONE_TURNS;
        /** Whether the channel's socket was read before this link's first datagram was taken. */
        boolean socketReadFirst;
        /**
         * What the socket may still hold from before this link's first datagram, as the kernel counts
         * (see {@link #readSocketBefore}); -1 until that datagram came.
         */
        long socketBacklog = -1;

        Attached(ShmDatagramLink link) {
            this.link = link;
        }

        void watch(IoEventLoop eventLoop) {
            eventLoop.register(this).addListener(this::registered);
        }

        private void registered(io.netty.util.concurrent.Future<?> f) {
            if (!f.isSuccess()) {
                logger.debug("{}: cannot watch the shm link to {}", channel, link.peer(), f.cause());
                if (!dropped) {
                    ShmDatagramPath.this.drop(link, true);
                }
                return;
            }
            IoRegistration r = (IoRegistration) f.getNow();
            if (dropped) {
                r.cancel();
                return;
            }
            doorbell = r;
            r.submit(VSocketIoOps.of(VSocketIoOps.IN | VSocketIoOps.RDHUP | VSocketIoOps.EDGE));
        }

        @Override
        public int fd() {
            return link.link().doorbellFd();
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            if (dropped || closed) {
                return;
            }
            if (event instanceof VSocketIoEvent e && e.isHangUp()) {
                lifelineEnded();
            } else if (link.link().answerDoorbell()) {
                pollNow();
            } else {
                logger.debug("{}: the shm link to {} passed descriptors through its doorbell: dropped", channel,
                        link.peer());
                ShmDatagramPath.this.drop(link, true);
            }
        }

        /** The peer closed its end of the connection, or its process ended: the peer is gone. */
        private void lifelineEnded() {
            // What the peer wrote before it went is still read (see peerGone), then the link goes. A link this
            // side offered that the peer never confirmed was refused (a rendezvous of another version takes no
            // such set-up): asked again only after a backoff, not on the next datagram.
            peerGone(link, link.isOffered() && !link.confirmed());
            poll();
        }

        void drop() {
            if (dropped) {
                return;
            }
            dropped = true;
            if (doorbell != null) {
                doorbell.cancel();
                doorbell = null;
            }
            link.close();
        }

        @Override
        public void close() {
            // drop() owns the link, and with it the connection.
        }
    }
}
