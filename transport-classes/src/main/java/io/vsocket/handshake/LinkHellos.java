package io.vsocket.handshake;

import io.vsocket.link.LinkHello;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaHello;
import io.vsocket.link.shm.ShmHello;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Every link's part of the hello: the one place a new link is made known to the hello (tcp needs
 * no part: it is the connection itself). The order is only that of a server's {@code offer} calls;
 * the offer lists links in the enum's order, and the client picks by its own preference.
 */
public final class LinkHellos {
    private LinkHellos() {
    }

    private static final List<LinkHello> ALL = List.of(ShmHello.INSTANCE, RdmaHello.INSTANCE);
    private static final Map<VSocketLink, LinkHello> BY_LINK = new EnumMap<>(VSocketLink.class);

    static {
        for (LinkHello hello : ALL) {
            BY_LINK.put(hello.link(), hello);
        }
    }

    static List<LinkHello> all() {
        return ALL;
    }

    /** {@code link}'s part of the hello; null for tcp. */
    static LinkHello of(VSocketLink link) {
        return BY_LINK.get(link);
    }
}
