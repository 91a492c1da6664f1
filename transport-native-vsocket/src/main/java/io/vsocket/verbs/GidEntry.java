package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;

/** One entry of a port's GID table ({@code struct ibv_gid_entry}). */
public record GidEntry(int port, int index, Gid gid, int type, int netdevIndex) {

    /** {@code IB}, {@code RoCE v1} or {@code RoCE v2}, as {@code ibv_devinfo} names the type. */
    public String typeName() {
        return switch (type) {
            case Ibverbs.IBV_GID_TYPE_IB -> "IB";
            case Ibverbs.IBV_GID_TYPE_ROCE_V1 -> "RoCE v1";
            case Ibverbs.IBV_GID_TYPE_ROCE_V2 -> "RoCE v2";
            default -> "type " + type;
        };
    }
}
