package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;

/** The path MTU values of {@code enum ibv_mtu}. */
public enum Mtu {
    MTU_256(Ibverbs.IBV_MTU_256, 256),
    MTU_512(Ibverbs.IBV_MTU_512, 512),
    MTU_1024(Ibverbs.IBV_MTU_1024, 1024),
    MTU_2048(Ibverbs.IBV_MTU_2048, 2048),
    MTU_4096(Ibverbs.IBV_MTU_4096, 4096);

    private final int code;
    private final int bytes;

    Mtu(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }

    public int code() {
        return code;
    }

    public int bytes() {
        return bytes;
    }

    public static Mtu ofCode(int code) {
        for (Mtu m : values()) {
            if (m.code == code) {
                return m;
            }
        }
        throw new IllegalArgumentException("not an ibv_mtu value: " + code);
    }

    /** The value of {@code bytes} (256, 512, 1024, 2048 or 4096). */
    public static Mtu ofBytes(int bytes) {
        for (Mtu m : values()) {
            if (m.bytes == bytes) {
                return m;
            }
        }
        throw new IllegalArgumentException("not a path MTU: " + bytes + " bytes");
    }

    @Override
    public String toString() {
        return Integer.toString(bytes);
    }
}
