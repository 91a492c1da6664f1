package io.vsocket.datagram;

import java.net.InetSocketAddress;

/**
 * What {@link UdResolver} knows of one UDP peer this side sends to: while resolved, the
 * {@link #route()} to its UD endpoint and the {@link #token()} to put in every datagram's header.
 * One object per peer, kept across refreshes (its fields change when a refresh brings news), so
 * asking for it allocates nothing. Loop thread only.
 */
public final class UdPeerRoute {
    final InetSocketAddress address;
    /** Null unless resolved. */
    UdRoute route;
    long token;
    /** The largest payload the peer said it receives (the route holds the smaller of both sides'). */
    int peerMaxPayload;
    long resolvedAt;
    /** A request is out: {@link #nonce} sent at {@link #requestedAt}. */
    boolean pending;
    long nonce;
    long requestedAt;
    /** When the request last went out, and how often it went again. */
    long sentAt;
    int resends;
    /** Unanswered: no request before {@link #retryAt}; the next wait is {@link #backoff}. */
    boolean negative;
    long retryAt;
    long backoff;
    long lastUsed;

    UdPeerRoute(InetSocketAddress address, long backoff) {
        this.address = address;
        this.backoff = backoff;
    }

    /** The peer's UDP address. */
    public InetSocketAddress address() {
        return address;
    }

    /** The route to the peer's UD endpoint (null when not resolved: send over UDP). */
    public UdRoute route() {
        return route;
    }

    /** The token the peer handed this side, for the header of every datagram sent to it. */
    public long token() {
        return token;
    }

    @Override
    public String toString() {
        return "UdPeerRoute(" + address + " -> " + (route != null ? route : pending ? "pending" : "UDP") + ")";
    }
}
