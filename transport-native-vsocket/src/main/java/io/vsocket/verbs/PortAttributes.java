package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;

/** What {@code ibv_query_port} says of one port. */
public record PortAttributes(int port, PortState state, Mtu maxMtu, Mtu activeMtu, int gidTableLength,
                             int lid, int linkLayer, int portCapFlags, long maxMessageSize,
                             int activeWidth, int activeSpeed, int physicalState) {

    public boolean isActive() {
        return state == PortState.ACTIVE;
    }

    /** {@code InfiniBand}, {@code Ethernet} (RoCE) or {@code Unspecified}. */
    public String linkLayerName() {
        return switch (linkLayer) {
            case Ibverbs.IBV_LINK_LAYER_INFINIBAND -> "InfiniBand";
            case Ibverbs.IBV_LINK_LAYER_ETHERNET -> "Ethernet";
            default -> "Unspecified";
        };
    }
}
