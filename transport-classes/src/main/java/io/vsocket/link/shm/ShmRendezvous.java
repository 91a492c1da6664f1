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
import io.vsocket.unix.PeerDescriptors;
import io.vsocket.unix.UnixSocket;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Where a server's shm connections receive their descriptors: a Unix-domain listener in the
 * abstract namespace (so only processes in the same network namespace can reach it), watched by the
 * server channel's event loop. A client connects, sends the connection's hello token with the memfd
 * and the server's end of the doorbell (SCM_RIGHTS) in one message, and goes. The message is accepted only from a
 * process of the same user (SO_PEERCRED) and only for a token a connection of this server is
 * waiting for; anything else is closed unread.
 */
public final class ShmRendezvous implements VSocketIoHandle, LinkHello.Listener {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(ShmRendezvous.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The memfd and the doorbell's end (an older client's three, with two eventfds, are refused). */
    private static final int DESCRIPTORS = 2;
    /** The length of the token each arrival carries (a connection's hello token, a datagram peer's). */
    public static final int TOKEN_LENGTH = 16;
    /** A connection that has not sent its message by then is dropped. */
    private static final long STALE_SECONDS = 5;
    private static final int MAX_ARRIVALS = 256;

    private final IoEventLoop loop;
    private final UnixSocket listener;
    private final String name;
    private final Map<String, Waiter> waiting = new ConcurrentHashMap<>();
    private volatile IoRegistration registration;
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
     * {@code token}, to the rendezvous called {@code name}; returns the link this side keeps. Throws
     * saying which step failed (nothing is left open then).
     */
    public static ShmLink handOver(String name, byte[] token, int clientRing, int serverRing) throws IOException {
        ShmLink.Offer offer;
        try {
            offer = ShmLink.offer(clientRing, serverRing);
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot create shared memory: " + e.getMessage(), e);
        }
        try (UnixSocket rendezvous = UnixSocket.connect(name)) {
            rendezvous.send(token, offer.descriptors());
        } catch (IOException | RuntimeException e) {
            offer.link().close();
            throw new IOException("cannot reach the server's rendezvous: " + e.getMessage(), e);
        } finally {
            offer.close(); // sent (or not): the server holds its own copies
        }
        return offer.link();
    }

    /** The abstract socket name clients connect to (without the leading NUL). */
    public String name() {
        return name;
    }

    /**
     * Waits for the descriptors sent with {@code token}: {@code onArrival} gets the memfd and the
     * doorbell's end, in {@link ShmLink#attach} order, on this rendezvous's loop, and owns them from then.
     */
    public void expect(byte[] token, Consumer<int[]> onArrival) {
        waiting.put(HexFormat.of().formatHex(token), new Waiter((fds, connection) -> onArrival.accept(fds), false));
    }

    /**
     * As {@link #expect(byte[], Consumer)}, and {@code onArrival} also gets the connection the
     * descriptors came on, off this loop's watch, and owns it: a link that lives as long as the
     * connection learns of its peer's end (even a killed process's) by the connection's hang-up.
     */
    public void expectKeepingConnection(byte[] token, BiConsumer<int[], UnixSocket> onArrival) {
        waiting.put(HexFormat.of().formatHex(token), new Waiter(onArrival, true));
    }

    private record Waiter(BiConsumer<int[], UnixSocket> onArrival, boolean keepsConnection) {
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
                logger.debug("shm rendezvous {}: accept failed", name, e);
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
        Resources.closeQuietly(listener);
        waiting.clear();
    }

    /** One client's connection to the rendezvous, until its message has been read. */
    private final class Arrival implements VSocketIoHandle {
        private final UnixSocket socket;
        private IoRegistration registration;

        Arrival(UnixSocket socket) {
            this.socket = socket;
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
            return socket.fd();
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
            Waiter waiter = null;
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
            if (waiter.keepsConnection()) {
                // Off this loop's watch first: the new owner registers the same descriptor.
                handedOver = true;
                close();
                waiter.onArrival().accept(fds, socket);
            } else {
                waiter.onArrival().accept(fds, null);
            }
        }

        /** The connection went to the waiter with the descriptors: no longer this arrival's to close. */
        private boolean handedOver;

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
            if (!handedOver) {
                Resources.closeQuietly(socket);
            }
        }
    }
}
