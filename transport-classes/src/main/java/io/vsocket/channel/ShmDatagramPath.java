package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.datagram.ShmDatagramLink;
import io.vsocket.datagram.PeerRoute;
import io.vsocket.link.Resources;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.UnixSocket;
import org.agrona.collections.Object2LongHashMap;
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
 * sender that finds that name for a datagram's recipient (and the listener is of its own user) asks
 * the recipient over UDP, as for UD ({@link io.vsocket.datagram.PeerResolver}); the reply's token,
 * handed only to the UDP address that asked, is what the sender presents at the rendezvous with
 * the link's memfd and doorbells. The UDP exchange is what ties the link to the sender's UDP
 * address (the one the recipient's application sees), as the kernel reported it. A peer without
 * the name (NIO, a plain UDP program) is never asked anything.
 *
 * <p>One link carries both directions; where both sides set one up at once, each keeps the first
 * for sending and reads from both. A link whose peer closed goes; a peer that breaks the record
 * format loses its link (the datagrams then go over UDP) and nothing else. Event-loop thread only.
 */
final class ShmDatagramPath implements VSocketLoopPoller {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmDatagramPath.class);
    /** Each direction's ring: room for a few of the largest datagrams; pages are touched only as used. */
    static final int RING_SIZE = 256 * 1024;
    /**
     * How long a peer without a rendezvous is not looked for again: a look is three system calls
     * beside each datagram to a plain UDP peer, and a vsocket channel that binds the port later is
     * found this long after.
     */
    static final long LOOK_AGAIN_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How long the rendezvous waits for a requester that was offered shm. */
    private static final long EXPECT_SECONDS = 10;
    /** How long a link this side set up waits for the peer's confirmation before it is given up. */
    static final long CONFIRM_MILLIS = 2000;

    private final VSocketDatagramChannel channel;
    /** Set once, by the path this side belongs to, before any link exists. */
    private DatagramPath path;
    private final VSocketIoHandler loop;
    private final ShmRendezvous rendezvous;
    /** The link each peer's datagrams are sent on. */
    private final Object2ObjectHashMap<InetSocketAddress, ShmDatagramLink> sendVia = new Object2ObjectHashMap<>();
    /** Every link, read on every poll. */
    private final ArrayList<Attached> links = new ArrayList<>();
    /** Peers looked for and not found, with when to look again. */
    private final Object2LongHashMap<InetSocketAddress> notFound = new Object2LongHashMap<>(Long.MIN_VALUE);
    /** Rendezvous names of peers found. */
    private final Object2ObjectHashMap<InetSocketAddress, String> found = new Object2ObjectHashMap<>();
    private boolean polling;
    private boolean closed;
    private long sent;
    private long received;

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
            // Another socket on the same port (SO_REUSEPORT) took the name first.
            logger.debug("{}: no shm datagrams to this channel: {} ({})", channel, name, e.getMessage());
            return null;
        }
    }

    /** The path that hands this side's datagrams to the channel and resolves its peers. */
    void path(DatagramPath path) {
        this.path = path;
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

    /** The link datagrams to {@code to} go on, or null. A link whose peer has closed is dropped here. */
    ShmDatagramLink linkTo(InetSocketAddress to) {
        ShmDatagramLink link = sendVia.get(to);
        if (link != null && link.peerClosed()) {
            drop(link, false);
            return null;
        }
        return link;
    }

    /** Writes {@code data} into {@code link} (published at {@link #flush()}): false when it does not fit. */
    boolean send(ShmDatagramLink link, ByteBuf data) {
        try {
            if (link.send(data)) {
                sent++;
                return true;
            }
            return false;
        } catch (RingProtocolException e) {
            logger.debug("{}: the shm link to {} broke: {}", channel, link.peer(), e.getMessage());
            drop(link, true);
            return false;
        }
    }

    void flush() {
        for (int i = 0; i < links.size(); i++) {
            links.get(i).link.flush();
        }
    }

    /**
     * Whether {@code to} has a rendezvous on this host (a vsocket channel of this user listens for
     * it): then its resolution asks for shm. Looked for once, and again {@link #LOOK_AGAIN_NANOS}
     * after it was not there.
     */
    boolean hasRendezvous(InetSocketAddress to, long now) {
        if (found.containsKey(to)) {
            return true;
        }
        long again = notFound.getValue(to);
        if (again != Long.MIN_VALUE && now - again < 0) {
            return false;
        }
        String name = lookFor(to);
        if (name == null) {
            if (notFound.size() >= 4096) {
                notFound.clear();
            }
            notFound.put(to, now + LOOK_AGAIN_NANOS);
            return false;
        }
        notFound.removeKey(to);
        found.put(to, name);
        return true;
    }

    private static String lookFor(InetSocketAddress to) {
        InetAddress address = plain(to.getAddress());
        if (!isLocal(address)) {
            return null; // another host: nothing of it listens here (and nothing is asked)
        }
        String exact = nameOf(address, to.getPort());
        if (listening(exact)) {
            return exact;
        }
        // A channel bound to the wildcard receives on every local address.
        String wildcard = "vsocket/udp/*:" + to.getPort();
        return listening(wildcard) ? wildcard : null;
    }

    private static boolean listening(String name) {
        try (UnixSocket probe = UnixSocket.connect(name)) {
            return probe.peerCredentials().uid() == UnixSocket.currentUid();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** How long a listing of the interfaces' addresses is used: addresses come and go rarely. */
    private static final long LOCAL_ADDRESSES_MAX_AGE_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** This host's interface addresses, as last listed, and when (shared by every loop). */
    private static volatile Set<InetAddress> localAddresses = Set.of();
    private static volatile long localAddressesListedAt = System.nanoTime() - LOCAL_ADDRESSES_MAX_AGE_NANOS;

    /**
     * Whether {@code address} is this host's: loopback, or an interface's (listed at most every 5 s,
     * so a peer on another host costs no system call per datagram).
     */
    private static boolean isLocal(InetAddress address) {
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
        return localAddresses.contains(address);
    }

    /**
     * Sets up a link to {@code to}, which offered shm in its reply: creates the rings and doorbells
     * and hands them to its rendezvous with the reply's token and nonce. Null (the peer forgotten
     * as a shm peer until it is found and resolved again) when that fails.
     */
    ShmDatagramLink connect(InetSocketAddress to, PeerRoute peer) {
        String name = found.get(to);
        if (name == null) {
            return null;
        }
        ShmLink.Offer offer;
        try {
            offer = ShmLink.offer(RING_SIZE, RING_SIZE);
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: no shared memory for datagrams to {}: {}", channel, to, e.getMessage());
            return null;
        }
        byte[] token = new byte[16];
        Unpooled.wrappedBuffer(token).setLong(0, peer.token()).setLong(8, peer.shmNonce());
        try (UnixSocket socket = UnixSocket.connect(name)) {
            if (socket.peerCredentials().uid() != UnixSocket.currentUid()) {
                throw new IOException(name + " belongs to another user");
            }
            socket.send(token, offer.descriptors());
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: cannot reach the shm rendezvous of {}: {}", channel, to, e.getMessage());
            offer.link().close();
            found.remove(to);
            return null;
        } finally {
            Resources.closeQuietly(offer.memFd());
        }
        ShmDatagramLink link = new ShmDatagramLink(offer.link(), to, true);
        add(link);
        // Sent is not taken: a rendezvous that did not expect the token (the peer restarted on the
        // same port since it answered) closes the descriptors unread, and nobody would read the ring.
        channel.eventLoop().schedule(() -> {
            if (!closed && !link.confirmed() && isOpen(link)) {
                logger.debug("{}: {} did not confirm its shm link; datagrams to it go over UDP", channel, to);
                drop(link, true);
            }
        }, CONFIRM_MILLIS, TimeUnit.MILLISECONDS);
        return link;
    }

    private boolean isOpen(ShmDatagramLink link) {
        for (int i = 0; i < links.size(); i++) {
            if (links.get(i).link == link) {
                return true;
            }
        }
        return false;
    }

    /** The resolver offered shm to {@code requester}: its link arrives at the rendezvous with this token. */
    void expect(InetSocketAddress requester, long token, long nonce) {
        byte[] key = new byte[16];
        Unpooled.wrappedBuffer(key).setLong(0, token).setLong(8, nonce);
        rendezvous.expect(key, fds -> attach(requester, fds));
        channel.eventLoop().schedule(() -> rendezvous.forget(key), EXPECT_SECONDS, TimeUnit.SECONDS);
    }

    private void attach(InetSocketAddress requester, int[] fds) {
        ShmLink shm;
        try {
            shm = ShmLink.attach(fds[0], fds[1], fds[2], RING_SIZE, RING_SIZE);
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: refused the shm link of {}: {}", channel, requester, e.getMessage());
            return;
        }
        if (closed) {
            shm.markClosed();
            shm.close();
            return;
        }
        ShmDatagramLink link = new ShmDatagramLink(shm, requester, false);
        try {
            link.confirm();
        } catch (RingProtocolException | RuntimeException e) {
            logger.debug("{}: cannot confirm the shm link of {}: {}", channel, requester, e.getMessage());
            link.close();
            return;
        }
        add(link);
        // Datagrams may be in it already, and no doorbell rang for them.
        channel.eventLoop().execute(this::pollNow);
    }

    private void add(ShmDatagramLink link) {
        sendVia.putIfAbsent(link.peer(), link);
        Attached attached = new Attached(link);
        links.add(attached);
        ((IoEventLoop) channel.eventLoop()).register(attached).addListener(f -> {
            if (f.isSuccess()) {
                IoRegistration r = (IoRegistration) f.getNow();
                if (attached.dropped) {
                    r.cancel();
                } else {
                    attached.registration = r;
                    r.submit(VSocketIoOps.of(VSocketIoOps.IN));
                }
            } else {
                logger.debug("{}: cannot watch the doorbell of the shm link to {}", channel, link.peer(), f.cause());
            }
        });
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
        found.remove(link.peer());
        path.shmGone(link.peer(), failed);
        for (int i = 0; i < links.size(); i++) {
            Attached a = links.get(i);
            if (a.link == link) {
                links.remove(i);
                a.drop();
                break;
            }
        }
        if (sendVia.get(link.peer()) == link) {
            sendVia.remove(link.peer());
            // Another link from that peer, if any, takes over.
            for (int i = 0; i < links.size(); i++) {
                if (links.get(i).link.peer().equals(link.peer())) {
                    sendVia.put(link.peer(), links.get(i).link);
                    break;
                }
            }
        }
    }

    /** Reads every link: each whole datagram to the channel ({@link DatagramPath#receivedShm}). */
    @Override
    public int poll() {
        int handled = 0;
        for (int i = links.size() - 1; i >= 0; i--) {
            if (closed) {
                break; // a handler closed the channel
            }
            if (i >= links.size()) {
                continue;
            }
            Attached a = links.get(i);
            ShmDatagramLink link = a.link;
            link.link().unpark();
            try {
                int length;
                while ((length = link.next()) >= 0) {
                    handled++;
                    received++;
                    if (!path.receivedShm(link, length)) {
                        link.skipPayload();
                    }
                    if (a.dropped || closed) {
                        break;
                    }
                }
                if (!a.dropped && !closed && link.peerClosed() && link.next() < 0) {
                    drop(link, false);
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

    private void pollNow() {
        if (!closed) {
            poll();
        }
    }

    @Override
    public boolean armAndCheck() {
        for (int i = 0; i < links.size(); i++) {
            ShmDatagramLink link = links.get(i).link;
            try {
                if (link.link().park(true, true, false)) {
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
        if (polling) {
            polling = false;
            loop.removePoller(this);
        }
    }

    /** One link, with its doorbell's registration on the loop. */
    private final class Attached implements VSocketIoHandle {
        final ShmDatagramLink link;
        private final int fd;
        IoRegistration registration;
        boolean dropped;

        Attached(ShmDatagramLink link) {
            this.link = link;
            this.fd = link.link().doorbellFd();
        }

        @Override
        public int fd() {
            return fd;
        }

        @Override
        public void handle(IoRegistration r, IoEvent event) {
            if (!dropped) {
                link.link().drainDoorbell();
                pollNow();
            }
        }

        void drop() {
            if (dropped) {
                return;
            }
            dropped = true;
            if (registration != null) {
                registration.cancel();
                registration = null;
            }
            link.close();
        }

        @Override
        public void close() {
            // drop() owns the link; a registration cancelled by the loop's close leaves it to the path.
        }
    }
}
