package io.vsocket.verbs;

/** {@code enum ibv_port_state}; names as {@code ibv_devinfo} prints them ({@code PORT_ACTIVE}). */
public enum PortState {
    NOP, DOWN, INIT, ARMED, ACTIVE, ACTIVE_DEFER;

    /** The value of the C enumerator: the ordinal, checked against the headers by the probe. */
    public int code() {
        return ordinal();
    }

    public static PortState ofCode(int code) {
        if (code < 0 || code >= values().length) {
            throw new IllegalArgumentException("not an ibv_port_state value: " + code);
        }
        return values()[code];
    }

    @Override
    public String toString() {
        return "PORT_" + name();
    }
}
