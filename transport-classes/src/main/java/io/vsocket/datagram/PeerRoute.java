package io.vsocket.datagram;

import java.net.InetSocketAddress;

/**
 * What {@link PeerResolver} knows of one UDP peer this side sends to: while resolved, the
 * {@link #route()} to its UD endpoint and the {@link #token()} to put in every datagram's header,
 * or that it takes datagrams over shared memory ({@link #shm()}, presented with the token and
 * {@link #shmNonce()}).
 * One object per peer, kept across refreshes (its fields change when a refresh brings news), so
 * asking for it allocates nothing. Loop thread only.
 */
public final class PeerRoute {
    final InetSocketAddress address;
    /** Null unless resolved to a UD endpoint. */
    UdRoute route;
    /** The peer offered shm in its last reply, to the request with {@link #shmNonce}. */
    boolean shm;
    long shmNonce;
    /** The size of the peer's receive ring it asked for with its shm offer, as a shift of {@link PeerResolver#SHM_RING_UNIT}. */
    int shmRingShift;
    /** The caller asks for shm ({@code routeTo}'s last call); the request out asked for it. */
    boolean askShm;
    boolean askedShm;
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

    PeerRoute(InetSocketAddress address, long backoff) {
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

    /** The peer takes this side's datagrams over shared memory, set up at its rendezvous. */
    public boolean shm() {
        return shm;
    }

    /** The nonce of the request the shm offer answered: the set-up presents it with the {@link #token()}. */
    public long shmNonce() {
        return shmNonce;
    }

    /**
     * The size of the ring the peer reads this side's datagrams from, as it asked in its shm offer
     * (its receive buffer's size, at least {@link PeerResolver#SHM_RING_UNIT}).
     */
    public int shmRing() {
        return PeerResolver.SHM_RING_UNIT << shmRingShift;
    }

    boolean isResolved() {
        return route != null || shm;
    }

    /** The token the peer handed this side, for the header of every datagram sent to it. */
    public long token() {
        return token;
    }

    @Override
    public String toString() {
        return "PeerRoute(" + address + " -> " + (route != null ? route : shm ? "shm" : pending ? "pending" : "UDP") + ")";
    }
}
