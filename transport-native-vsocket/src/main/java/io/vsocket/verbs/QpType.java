package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;

/** The queue pair transports vsocket uses ({@code enum ibv_qp_type}). */
public enum QpType {
    /** Reliable connected: streams. */
    RC(Ibverbs.IBV_QPT_RC),
    /** Unreliable connected. */
    UC(Ibverbs.IBV_QPT_UC),
    /** Unreliable datagram: datagrams. */
    UD(Ibverbs.IBV_QPT_UD);

    private final int code;

    QpType(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }
}
