package io.vsocket.verbs;

/**
 * {@code enum ibv_wc_status}: why a work request completed. Each constant's name is the C
 * enumerator without its {@code IBV_WC_} prefix, and {@link #code()} its value (ordinal order,
 * checked against the headers by the layout probe).
 */
public enum WcStatus {
    SUCCESS, LOC_LEN_ERR, LOC_QP_OP_ERR, LOC_EEC_OP_ERR, LOC_PROT_ERR, WR_FLUSH_ERR, MW_BIND_ERR,
    BAD_RESP_ERR, LOC_ACCESS_ERR, REM_INV_REQ_ERR, REM_ACCESS_ERR, REM_OP_ERR, RETRY_EXC_ERR,
    RNR_RETRY_EXC_ERR, LOC_RDD_VIOL_ERR, REM_INV_RD_REQ_ERR, REM_ABORT_ERR, INV_EECN_ERR,
    INV_EEC_STATE_ERR, FATAL_ERR, RESP_TIMEOUT_ERR, GENERAL_ERR, TM_ERR, TM_RNDV_INCOMPLETE;

    private static final WcStatus[] VALUES = values();

    public int code() {
        return ordinal();
    }

    /** The C name, e.g. {@code IBV_WC_RETRY_EXC_ERR}. */
    public String cName() {
        return "IBV_WC_" + name();
    }

    /** The C name of {@code code}, or {@code IBV_WC_<code>} for a value this enum does not know. */
    public static String nameOf(int code) {
        return code >= 0 && code < VALUES.length ? VALUES[code].cName() : "IBV_WC_" + code;
    }
}
