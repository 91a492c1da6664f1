package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.IoEventLoop;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;

/**
 * One link's part of the hello, kept in the link's own package (public for the link packages and
 * the hello, not for applications): what a server offers on a
 * connection and how it accepts the client's choice, how a client takes an offer, and the bytes
 * each of these adds to the hello. The hello itself ({@code io.vsocket.handshake}) carries each
 * link's part as opaque bytes and drives these objects without knowing any link; tcp, the
 * connection itself, needs no part. Every method runs on the connection's event loop unless it
 * says otherwise.
 *
 * <p>A part that cannot be read throws {@link HelloPartException}: the peer sent a broken hello, and
 * the connection fails saying so. Any other failure to set a link up says why as its message, and
 * the hello goes on without that link (the next the client allows, or tcp).
 */
public interface LinkHello {
    /** The link this part sets up (never tcp). */
    VSocketLink link();

    /**
     * What a server channel keeps for this link across its connections (shm: its rendezvous),
     * opened on the first accepted connection that allows the link and closed with the server
     * channel; null when the link needs none, or cannot work on this host (then it is not offered).
     * Any thread.
     */
    default Listener openListener(IoEventLoop serverLoop) throws IOException {
        return null;
    }

    /**
     * Server: this link offered on {@code connection} ({@code listener} from {@link #openListener},
     * null if it gave none), or null when it cannot be offered here (no device for the address,
     * no listener where one is needed).
     */
    Offer offer(HelloConnection connection, Listener listener);

    /**
     * Client: takes the server's part of its offer ({@code serverRingSize} is the ring the server
     * asks for) and sets up this side's end. Throws {@link HelloPartException} for a part that cannot
     * be read, any other {@link IOException} (its message says why) when this side cannot take it.
     */
    Choice choose(HelloConnection connection, int serverRingSize, ByteBuf offerPart) throws IOException;

    /** What a connection's hello is for the link that works it out. */
    record HelloConnection(LinkHost host, NativeSocket socket, LinkSettings settings, byte[] token) {
    }

    /** A server channel's state for one link; closed once, with the server channel. */
    interface Listener extends AutoCloseable {
        @Override
        void close();
    }

    /** A server's offer of the link on one connection, until the client's choice is known. */
    interface Offer {
        /** This link's part of the server's offer (may write nothing). */
        void writeOffer(ByteBuf out);

        /**
         * The client chose this link ({@code clientRingSize}, its part of the choice): sets it up,
         * the outcome going to {@code outcome}, now or later on this loop.
         */
        void accept(int clientRingSize, ByteBuf choicePart, Outcome outcome) throws IOException;

        /**
         * The client's side of an accepted link did not arrive within {@code millis}: returns why,
         * and the connection goes on over tcp (the client hears that), or throws, and it fails (a
         * client that may already use the link cannot be moved back).
         */
        String timedOut(long millis) throws IOException;

        /** Gives back what the offer holds (the link it made included, unless it was established). Idempotent. */
        void close();
    }

    /** Where a server's {@link Offer#accept} reports how the set-up went. */
    interface Outcome {
        /** Sends the link-ready message, this link's part of it written by {@code part}. */
        void sendReady(PartWriter part) throws IOException;

        /** The link is up: the connection goes on over it. */
        void established(ConnectionLink link);

        /** This side could not set the link up: the client hears tcp and why, and both go on over tcp. */
        void refused(String reason);

        /** The link cannot be set up, nor the connection go on over tcp (the peer may be using the link): it fails. */
        void failed(Throwable cause);
    }

    /** A client's choice of the link, until the server says whether it is ready. */
    interface Choice {
        /** This link's part of the client's choice (may write nothing). */
        void writeChoice(ByteBuf out);

        /**
         * The server made the link ready ({@code readyPart}, its part of that message): the link the
         * connection goes on over. Throws {@link HelloPartException} for a part that cannot be read.
         */
        ConnectionLink ready(ByteBuf readyPart) throws IOException;

        /** Gives back what the choice holds, unless {@link #ready} made a link of it. Idempotent. */
        void close();
    }

    /** Writes a link's part of a hello message. */
    interface PartWriter {
        void write(ByteBuf out);
    }
}
