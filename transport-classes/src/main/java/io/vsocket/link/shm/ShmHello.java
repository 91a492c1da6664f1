package io.vsocket.link.shm;

import io.netty.buffer.ByteBuf;
import io.netty.channel.IoEventLoop;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.HelloPart;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.LinkHello;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.VSocketLink;
import io.vsocket.unix.PeerDescriptors;

import java.io.IOException;
import java.util.concurrent.RejectedExecutionException;

/**
 * The shm link's part of the hello. The server offers its host identity and the name of its
 * rendezvous (the server channel's {@link Listener}); a client on the same host, user and network
 * namespace makes the shared memory and sends it to that rendezvous with the connection's token,
 * and chooses shm with no bytes of its own; the server maps what arrived and makes the link ready.
 *
 * <pre>
 * offer  hostId:str rendezvous:str      (str = u8 length + UTF-8)
 * choice (nothing)
 * ready  (nothing)
 * </pre>
 */
public final class ShmHello implements LinkHello {
    public static final ShmHello INSTANCE = new ShmHello();

    private ShmHello() {
    }

    @Override
    public VSocketLink link() {
        return VSocketLink.SHM;
    }

    @Override
    public Listener openListener(IoEventLoop serverLoop) throws IOException {
        return HostIdentity.local().isEmpty() ? null : ShmRendezvous.open(serverLoop);
    }

    @Override
    public Offer offer(HelloConnection connection, Listener listener) {
        String hostId = HostIdentity.local();
        if (!(listener instanceof ShmRendezvous rendezvous) || hostId.isEmpty()) {
            return null;
        }
        return new ServerOffer(connection, rendezvous, hostId);
    }

    @Override
    public Choice choose(HelloConnection connection, int serverRingSize, ByteBuf offerPart) throws IOException {
        OfferPart offer = OfferPart.read(offerPart);
        String why = whyNot(offer, serverRingSize);
        if (why != null) {
            throw new IOException(why);
        }
        ShmLink link = ShmRendezvous.handOver(offer.rendezvous(), connection.token(),
                connection.settings().getRingSize(VSocketLink.SHM), serverRingSize);
        return new ClientChoice(connection, link);
    }

    /** The server's part of the offer: who may share memory with it, and where that memory goes. */
    public record OfferPart(String hostId, String rendezvous) {
        public static OfferPart of(ShmRendezvous rendezvous) {
            return new OfferPart(HostIdentity.local(), rendezvous.name());
        }

        public void write(ByteBuf out) {
            HelloPart.writeString(out, hostId);
            HelloPart.writeString(out, rendezvous);
        }

        public static OfferPart read(ByteBuf part) throws HelloPartException {
            OfferPart offer = new OfferPart(HelloPart.readString(part, "the shm offer's host id"),
                    HelloPart.readString(part, "the shm offer's rendezvous"));
            HelloPart.requireEnd(part, "the shm offer");
            return offer;
        }
    }

    /** Why this side cannot take the shm {@code offer} makes possible (another host, a bad ring size), or null. */
    public static String whyNot(OfferPart offer, int serverRingSize) {
        String local = HostIdentity.local();
        if (local.isEmpty() || !local.equals(offer.hostId())) {
            return "the server is on another host, network namespace or user";
        }
        if (!LinkSettings.isRingSize(serverRingSize)) {
            return "the server asked for a ring of " + serverRingSize + " bytes";
        }
        return null;
    }

    /** A server's shm offer: the client's memory may come to the rendezvous before its choice does. */
    private static final class ServerOffer implements Offer {
        private final HelloConnection connection;
        private final ShmRendezvous rendezvous;
        private final String hostId;
        /** The client's memfd and the connection it came on (the doorbell), once they came and until mapped (or closed). */
        private int[] descriptors;
        /** Set once the client chose shm. */
        private Outcome outcome;
        private int clientRingSize;
        private boolean closed;

        ServerOffer(HelloConnection connection, ShmRendezvous rendezvous, String hostId) {
            this.connection = connection;
            this.rendezvous = rendezvous;
            this.hostId = hostId;
            // Before the offer goes: a quick client's memory must find the token expected.
            rendezvous.expect(connection.token(), this::descriptorsSent);
        }

        @Override
        public void writeOffer(ByteBuf out) {
            new OfferPart(hostId, rendezvous.name()).write(out);
        }

        /** On the rendezvous's loop: hand the descriptors over to this connection's loop. */
        private void descriptorsSent(int[] fds) {
            try {
                connection.host().eventLoop().execute(() -> descriptorsArrived(fds));
            } catch (RejectedExecutionException e) {
                PeerDescriptors.close(fds);
            }
        }

        private void descriptorsArrived(int[] fds) {
            if (closed || descriptors != null) {
                PeerDescriptors.close(fds);
                return;
            }
            descriptors = fds;
            if (outcome != null) {
                attach();
            }
        }

        @Override
        public void accept(int clientRingSize, ByteBuf choicePart, Outcome outcome) throws IOException {
            HelloPart.requireEnd(choicePart, "the client's choice of shm");
            this.clientRingSize = clientRingSize;
            this.outcome = outcome;
            if (descriptors != null) {
                attach();
            }
        }

        private void attach() {
            int[] fds = descriptors;
            descriptors = null;
            ShmLink link;
            try {
                link = ShmLink.attach(fds[0], fds[1], clientRingSize, connection.settings().getRingSize(VSocketLink.SHM));
            } catch (IOException | RuntimeException e) {
                outcome.refused("cannot map the client's shared memory: " + e.getMessage());
                return;
            }
            try {
                outcome.sendReady(out -> { });
            } catch (IOException | RuntimeException e) {
                link.close();
                outcome.failed(e);
                return;
            }
            ConnectionLink established = new ShmConnectionLink(connection.host(), connection.socket(),
                    connection.settings(), link);
            closed = true;
            rendezvous.forget(connection.token());
            outcome.established(established);
        }

        @Override
        public String timedOut(long millis) {
            return "the client's shared memory did not arrive within " + millis + " ms";
        }

        @Override
        public void close() {
            closed = true;
            rendezvous.forget(connection.token());
            if (descriptors != null) {
                PeerDescriptors.close(descriptors);
                descriptors = null;
            }
        }
    }

    /** A client's choice of shm: the memory it made and sent, until the server maps it. */
    private static final class ClientChoice implements Choice {
        private final HelloConnection connection;
        private ShmLink link;

        ClientChoice(HelloConnection connection, ShmLink link) {
            this.connection = connection;
            this.link = link;
        }

        @Override
        public void writeChoice(ByteBuf out) {
        }

        @Override
        public ConnectionLink ready(ByteBuf readyPart) throws IOException {
            HelloPart.requireEnd(readyPart, "the server's shm ready");
            ShmLink ready = link;
            link = null;
            return new ShmConnectionLink(connection.host(), connection.socket(), connection.settings(), ready);
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
