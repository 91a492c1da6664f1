package io.vsocket.verbs;

/** {@code enum ibv_qp_state}, in enumerator order (checked against the headers by the probe). */
public enum QpState {
    RESET, INIT, RTR, RTS, SQD, SQE, ERR, UNKNOWN;

    public int code() {
        return ordinal();
    }

    public static QpState ofCode(int code) {
        return code >= 0 && code < UNKNOWN.ordinal() ? values()[code] : UNKNOWN;
    }
}
