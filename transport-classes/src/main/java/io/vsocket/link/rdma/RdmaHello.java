package io.vsocket.link.rdma;

import io.netty.buffer.ByteBuf;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.HelloPart;
import io.vsocket.link.LinkHello;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.Resources;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.VSocketLinkException;

import java.io.IOException;

/**
 * The rdma link's part of the hello. The server offers rdma (with no bytes) where a device port's
 * RoCE address is the connection's local address; the client makes its queue pair and ring and
 * chooses rdma with their {@link RdmaEndpoint}; the server connects a queue pair of its own to it
 * and makes the link ready with its endpoint; the client connects and sends the first message over
 * the link, and the server's side is established only when that arrives (a handler may write in
 * {@code channelActive} and even block the loop there until the client has the bytes).
 *
 * <pre>
 * offer  (nothing)
 * choice endpoint      (the client's)
 * ready  endpoint      (the server's)
 * </pre>
 */
public final class RdmaHello implements LinkHello {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaHello.class);
    public static final RdmaHello INSTANCE = new RdmaHello();

    private RdmaHello() {
    }

    @Override
    public VSocketLink link() {
        return VSocketLink.RDMA;
    }

    @Override
    public Offer offer(HelloConnection connection, Listener listener) {
        try {
            // Looked up first: where no device serves the address (most hosts), the context's "why not"
            // would cost every accepted connection an exception (some 20 µs of its hello).
            if (RdmaPort.of(connection.socket().localAddress().getAddress()).isEmpty()) {
                return null;
            }
            context(connection);
        } catch (IOException | RuntimeException e) {
            logger.debug("{}: no rdma offered: {}", connection.host(), e.getMessage());
            return null;
        }
        return new ServerOffer(connection);
    }

    @Override
    public Choice choose(HelloConnection connection, int serverRingSize, ByteBuf offerPart) throws IOException {
        HelloPart.requireEnd(offerPart, "the rdma offer");
        RdmaLink link;
        try {
            link = context(connection).newLink(connection.settings().getRingSize(VSocketLink.RDMA));
        } catch (RuntimeException e) {
            throw new IOException(e.getMessage(), e);
        }
        return new ClientChoice(connection, link);
    }

    /** The rdma context of the connection's loop for its local address; throws saying why there is none. */
    private static RdmaContext context(HelloConnection connection) throws IOException {
        return RdmaLoop.context(connection.host().ioHandler(), connection.socket().localAddress().getAddress());
    }

    /** A server's rdma offer: once chosen, its connected queue pair until the client's first message. */
    private static final class ServerOffer implements Offer {
        private final HelloConnection connection;
        private RdmaLink pending;
        private Outcome outcome;

        ServerOffer(HelloConnection connection) {
            this.connection = connection;
        }

        @Override
        public void writeOffer(ByteBuf out) {
        }

        @Override
        public void accept(int clientRingSize, ByteBuf choicePart, Outcome outcome) throws IOException {
            RdmaEndpoint client = RdmaEndpoint.read(choicePart);
            HelloPart.requireEnd(choicePart, "the client's choice of rdma");
            RdmaLink link = null;
            try {
                LinkSettings.validateRingSize(client.ringSize());
                link = context(connection).newLink(connection.settings().getRingSize(VSocketLink.RDMA));
                link.connect(client, false);
            } catch (IOException | RuntimeException e) {
                Resources.closeQuietly(link);
                outcome.refused(e.getMessage());
                return;
            }
            RdmaEndpoint local = link.local();
            try {
                outcome.sendReady(local::write);
            } catch (IOException | RuntimeException e) {
                link.close();
                outcome.failed(e);
                return;
            }
            pending = link;
            this.outcome = outcome;
            link.listener(this::peerActivity);
        }

        /** Completions for the link while it waits for the client's first message. */
        private void peerActivity() {
            RdmaLink link = pending;
            if (link == null) {
                return;
            }
            if (link.failure() != null) {
                outcome.failed(new VSocketLinkException("the rdma link failed before the client's first message: "
                        + link.failure().getMessage(), link.failure()));
            } else if (link.peerReady()) {
                pending = null;
                link.listener(null);
                outcome.established(new RdmaConnectionLink(connection.host(), connection.socket(),
                        connection.settings(), link));
            }
        }

        @Override
        public String timedOut(long millis) throws VSocketLinkException {
            throw new VSocketLinkException("the client's rdma queue pair sent nothing within " + millis
                    + " ms of being made ready");
        }

        @Override
        public void close() {
            if (pending != null) {
                // The client's side is connected and may already be active: it gets an end of stream
                // (or a reset, for an abortive close), as over TCP, not silence.
                RdmaConnectionLink.end(pending, RingConnectionLink.closeIsAbortive(connection.socket()),
                        connection.host().eventLoop());
                pending = null;
            }
        }
    }

    /** A client's choice of rdma: its queue pair and ring, until the server's are ready. */
    private static final class ClientChoice implements Choice {
        private final HelloConnection connection;
        private RdmaLink link;

        ClientChoice(HelloConnection connection, RdmaLink link) {
            this.connection = connection;
            this.link = link;
        }

        @Override
        public void writeChoice(ByteBuf out) {
            link.local().write(out);
        }

        @Override
        public ConnectionLink ready(ByteBuf readyPart) throws IOException {
            RdmaEndpoint server = RdmaEndpoint.read(readyPart);
            HelloPart.requireEnd(readyPart, "the server's rdma ready");
            LinkSettings.validateRingSize(server.ringSize());
            try {
                // The server's queue pair is ready: this one may write at once, and says so first.
                link.connect(server, true);
            } catch (IOException | RuntimeException e) {
                throw new VSocketLinkException("cannot connect the rdma queue pair the server made ready: "
                        + e.getMessage(), e);
            }
            RdmaLink connected = link;
            link = null;
            return new RdmaConnectionLink(connection.host(), connection.socket(), connection.settings(), connected);
        }

        @Override
        public void close() {
            if (link != null) {
                link.close();
                link = null;
            }
        }
    }
}
