package io.vsocket.link.shm;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.util.concurrent.Future;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.LinkHello;
import io.vsocket.link.Resources;
import io.vsocket.loop.VSocketIoHandle;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.Doorbell;
import io.vsocket.unix.PeerDescriptors;
import io.vsocket.unix.UnixSocket;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Where a server's shm connections receive their memory: a Unix-domain listener in the abstract
 * namespace (so only processes in the same network namespace can reach it), watched by the server
 * channel's event loop. A client connects and sends the connection's hello token with the memfd
 * (SCM_RIGHTS) in one message; the connection stays, as the link's doorbell (and its hang-up as the
 * sign that the peer let the link go): a socket each side made itself, which no other process holds
 * ({@link Doorbell}). The message is accepted only from a process of the same user (SO_PEERCRED) and
 * only for a token a connection of this server is waiting for; anything else is closed unread.
 */
public final class ShmRendezvous implements VSocketIoHandle, LinkHello.Listener {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmRendezvous.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /**
     * The memfd: the doorbell is the connection itself (older clients' two or three, with a doorbell
     * of their making, are refused).
     */
    private static final int DESCRIPTORS = 1;
    /** The length of the token each arrival carries (a connection's hello token, a datagram peer's). */
    public static final int TOKEN_LENGTH = 16;
    /** A connection that has not sent its message by then is dropped. */
    private static final long STALE_SECONDS = 5;
    private static final int MAX_ARRIVALS = 256;

    private final IoEventLoop loop;
    private final UnixSocket listener;
    private final String name;
    private final Map<String, Consumer<int[]>> waiting = new ConcurrentHashMap<>();
    private volatile IoRegistration registration;
    /** How long a failed accept stops the watch (see {@link #handle}). */
    static final long ACCEPT_PAUSE_MILLIS = 100;
    /** The watch's return after a failed accept, while it waits (set on the loop; a close may cancel it from elsewhere). */
    private volatile Future<?> acceptsPaused;
    private volatile boolean closed;
    /** Accepted connections whose message has not been read yet (loop thread only). */
    private int arrivals;

    private ShmRendezvous(IoEventLoop loop, UnixSocket listener, String name) {
        this.loop = loop;
        this.listener = listener;
        this.name = name;
    }

    /** Opens a listener under a random name and registers it with {@code loop}. */
    public static ShmRendezvous open(IoEventLoop loop) throws IOException {
        byte[] random = new byte[16];
        RANDOM.nextBytes(random);
        return open(loop, "vsocket/" + HexFormat.of().formatHex(random));
    }

    /**
     * Opens a listener under {@code name} (a datagram channel's is named after its UDP address, so
     * that a sender on this host finds it) and registers it with {@code loop}; fails when the name
     * is taken.
     */
    public static ShmRendezvous open(IoEventLoop loop, String name) throws IOException {
        UnixSocket listener = UnixSocket.listen(name, 128);
        ShmRendezvous rendezvous = new ShmRendezvous(loop, listener, name);
        loop.register(rendezvous).addListener(f -> {
            if (f.isSuccess()) {
                rendezvous.registration = (IoRegistration) f.getNow();
                if (rendezvous.closed) {
                    rendezvous.registration.cancel();
                } else {
                    rendezvous.registration.submit(VSocketIoOps.of(VSocketIoOps.IN));
                }
            } else {
                logger.warn("cannot watch the shm rendezvous {}; shm connections to this server will fall back",
                        name, f.cause());
                rendezvous.close();
            }
        });
        return rendezvous;
    }

    /**
     * The client's half of an shm set-up: makes the shared memory for these rings and sends it, with
     * {@code token}, to the rendezvous called {@code name}; returns the link this side keeps, whose
     * doorbell is that connection. Throws saying which step failed (nothing is left open then).
     */
    public static ShmLink handOver(String name, byte[] token, int clientRing, int serverRing) throws IOException {
        ShmLink.Offer offer;
        try {
            offer = ShmLink.offer(clientRing, serverRing);
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot create shared memory: " + e.getMessage(), e);
        }
        UnixSocket rendezvous = null;
        try (offer) { // sent (or not): the server holds its own copy of the memfd
            rendezvous = UnixSocket.connect(name);
            rendezvous.send(token, offer.descriptors());
            return offer.link(Doorbell.adopt(rendezvous.release()));
        } catch (IOException | RuntimeException e) {
            Resources.closeQuietly(rendezvous);
            throw new IOException("cannot reach the server's rendezvous: " + e.getMessage(), e);
        }
    }

    /** The abstract socket name clients connect to (without the leading NUL). */
    public String name() {
        return name;
    }

    /**
     * Waits for the memory sent with {@code token}: {@code onArrival} gets the memfd and the connection
     * it came on (the link's doorbell), in {@link ShmLink#attach} order, on this rendezvous's loop, and
     * owns both from then (off this loop's watch: the new owner registers the connection again).
     */
    public void expect(byte[] token, Consumer<int[]> onArrival) {
        waiting.put(HexFormat.of().formatHex(token), onArrival);
    }

    public void forget(byte[] token) {
        waiting.remove(HexFormat.of().formatHex(token));
    }

    @Override
    public int fd() {
        return listener.fd();
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        while (!closed) {
            UnixSocket connection;
            try {
                connection = listener.accept();
            } catch (IOException e) {
                // The connection stays pending (out of descriptors, most often), and the level-triggered
                // watch would hand it back at once: the loop spun on it at a process's descriptor limit
                // (a probe: 60-95% of a core for as long as the limit held; epoll's server sat idle).
                // Stop watching for a while, as Netty's server bootstrap pauses its accepts.
                logger.debug("shm rendezvous {}: accept failed, pausing accepts for {} ms", name, ACCEPT_PAUSE_MILLIS, e);
                pauseAccepts(registration);
                return;
            }
            if (connection == null) {
                return;
            }
            // Who it is, at once: another user's connections are not kept at all, and at most
            // MAX_ARRIVALS of our own user's wait for their message at a time.
            try {
                int uid = connection.peerCredentials().uid();
                if (uid != UnixSocket.currentUid() || arrivals >= MAX_ARRIVALS) {
                    logger.debug("shm rendezvous {}: refused a connection from uid {} ({} waiting)", name, uid, arrivals);
                    Resources.closeQuietly(connection);
                    continue;
                }
            } catch (IOException e) {
                Resources.closeQuietly(connection);
                continue;
            }
            arrivals++;
            Arrival arrival = new Arrival(connection);
            loop.register(arrival).addListener(f -> {
                if (f.isSuccess()) {
                    arrival.registered((IoRegistration) f.getNow());
                } else {
                    arrival.close();
                }
            });
        }
    }

    /** Stops watching the listener for {@link #ACCEPT_PAUSE_MILLIS}, then watches it again. Loop thread. */
    private void pauseAccepts(IoRegistration r) {
        r.submit(VSocketIoOps.NONE);
        acceptsPaused = loop.schedule(() -> {
            acceptsPaused = null;
            if (!closed && r.isValid()) {
                r.submit(VSocketIoOps.of(VSocketIoOps.IN));
            }
        }, ACCEPT_PAUSE_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        IoRegistration r = registration;
        if (r != null) {
            r.cancel();
        }
        Future<?> paused = acceptsPaused;
        if (paused != null) {
            paused.cancel(false);
        }
        Resources.closeQuietly(listener);
        waiting.clear();
    }

    /** One client's connection to the rendezvous, until its message has been read. */
    private final class Arrival implements VSocketIoHandle {
        private final UnixSocket socket;
        /** The socket's descriptor, watched until the arrival ends (the socket may have let it go by then). */
        private final int fd;
        private IoRegistration registration;

        Arrival(UnixSocket socket) {
            this.socket = socket;
            this.fd = socket.fd();
        }

        void registered(IoRegistration r) {
            registration = r;
            r.submit(VSocketIoOps.of(VSocketIoOps.IN));
            stale = loop.schedule(this::close, STALE_SECONDS, TimeUnit.SECONDS);
            // The message may have arrived before the registration: look at once.
            handle(r, null);
        }

        @Override
        public int fd() {
            return fd;
        }

        @Override
        public void handle(IoRegistration r, IoEvent event) {
            UnixSocket.Received message;
            try {
                message = socket.receive(64, DESCRIPTORS);
            } catch (IOException e) {
                logger.debug("shm rendezvous {}: bad message", name, e);
                close();
                return;
            }
            if (message == null) {
                return;
            }
            try {
                deliver(message);
            } finally {
                close();
            }
        }

        private void deliver(UnixSocket.Received message) {
            int[] fds = message.fds();
            Consumer<int[]> waiter = null;
            try {
                int uid = socket.peerCredentials().uid();
                if (uid != UnixSocket.currentUid()) {
                    logger.warn("shm rendezvous {}: refused descriptors from uid {}", name, uid);
                } else if (message.data().length != TOKEN_LENGTH || fds.length != DESCRIPTORS) {
                    logger.debug("shm rendezvous {}: malformed message of {} bytes and {} descriptors", name,
                            message.data().length, fds.length);
                } else {
                    waiter = waiting.remove(HexFormat.of().formatHex(message.data()));
                }
            } catch (IOException e) {
                logger.debug("shm rendezvous {}: SO_PEERCRED failed", name, e);
            }
            if (waiter == null) {
                PeerDescriptors.close(fds);
                return;
            }
            int connection;
            try {
                connection = socket.release();
            } catch (ClosedChannelException e) {
                PeerDescriptors.close(fds); // (cannot be: only this arrival closes it, and it is here)
                return;
            }
            // Off this loop's watch first: the new owner registers the same descriptor.
            close();
            waiter.accept(new int[] {fds[0], connection});
        }

        private boolean done;
        /** The timer that drops the connection if no message comes: cancelled once it has. */
        private Future<?> stale;

        @Override
        public void close() {
            if (!done) {
                done = true;
                arrivals--;
            }
            if (stale != null) {
                stale.cancel(false);
                stale = null;
            }
            if (registration != null) {
                IoRegistration r = registration;
                registration = null;
                r.cancel();
            }
            Resources.closeQuietly(socket); // (nothing, once released to a waiter)
        }
    }
}
