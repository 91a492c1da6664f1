package io.vsocket.datagram;

import io.vsocket.verbs.AddressHandle;
import io.vsocket.verbs.Gid;

/**
 * Where a {@link UdEndpoint} sends to: a peer's UD queue pair (GID, QPN, Q_Key), through an address
 * handle the endpoint caches per GID, and the largest payload the peer receives. Made by
 * {@link UdEndpoint#route}; valid while its endpoint is open (a send through a route of a closed
 * endpoint is refused).
 */
public final class UdRoute {
    private final UdEndpoint endpoint;
    private final AddressHandle handle;
    private final Gid gid;
    private final long gidHigh;
    private final long gidLow;
    private final int qpNumber;
    private final int qkey;
    private final int maxPayload;

    /** {@code handle} may be null only where nothing is sent (the resolver's tests). */
    UdRoute(UdEndpoint endpoint, AddressHandle handle, Gid gid, int qpNumber, int qkey, int maxPayload) {
        this.endpoint = endpoint;
        this.handle = handle;
        this.gid = gid;
        this.gidHigh = Gids.high(gid);
        this.gidLow = Gids.low(gid);
        this.qpNumber = qpNumber;
        this.qkey = qkey;
        this.maxPayload = maxPayload;
    }

    UdEndpoint endpoint() {
        return endpoint;
    }

    AddressHandle handle() {
        return handle;
    }

    /** True while datagrams can go this way: its endpoint and its address handle are open. */
    public boolean isOpen() {
        return endpoint != null && endpoint.isOpen() && handle != null && handle.isOpen();
    }

    public Gid gid() {
        return gid;
    }

    public int qpNumber() {
        return qpNumber;
    }

    public int qkey() {
        return qkey;
    }

    /** The largest payload a datagram on this route may carry: the smaller of both sides' path MTU less the header. */
    public int maxPayload() {
        return maxPayload;
    }

    /** True when this route goes to exactly that queue pair. */
    boolean sameAs(long gidHigh, long gidLow, int qpNumber, int qkey) {
        return this.gidHigh == gidHigh && this.gidLow == gidLow && this.qpNumber == qpNumber && this.qkey == qkey;
    }

    @Override
    public String toString() {
        return "UdRoute(" + gid + ", QPN 0x" + Integer.toHexString(qpNumber) + ", " + maxPayload + " bytes)";
    }
}
