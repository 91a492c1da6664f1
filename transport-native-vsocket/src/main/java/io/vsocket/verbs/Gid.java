package io.vsocket.verbs;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A 128-bit GID. On RoCE a GID is an IP address: an IPv6 address, or an IPv4 address mapped as
 * {@code ::ffff:a.b.c.d}.
 */
public final class Gid {
    public static final int BYTES = 16;
    private final byte[] raw;

    private Gid(byte[] raw) {
        this.raw = raw;
    }

    public static Gid of(byte[] raw) {
        if (raw.length != BYTES) {
            throw new IllegalArgumentException("a GID has 16 bytes, not " + raw.length);
        }
        return new Gid(raw.clone());
    }

    /** The GID that RoCE uses for {@code address}. */
    public static Gid of(InetAddress address) {
        byte[] raw = new byte[BYTES];
        byte[] a = address.getAddress();
        if (address instanceof Inet4Address) {
            raw[10] = (byte) 0xff;
            raw[11] = (byte) 0xff;
            System.arraycopy(a, 0, raw, 12, 4);
        } else {
            System.arraycopy(a, 0, raw, 0, BYTES);
        }
        return new Gid(raw);
    }

    public byte[] toByteArray() {
        return raw.clone();
    }

    public boolean isZero() {
        for (byte b : raw) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    /** The IP address this GID stands for on RoCE: IPv4 when it is v4-mapped, else IPv6. */
    public InetAddress toInetAddress() {
        try {
            if (isIpv4Mapped()) {
                return InetAddress.getByAddress(Arrays.copyOfRange(raw, 12, 16));
            }
            return Inet6Address.getByAddress(null, raw, null);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    public boolean isIpv4Mapped() {
        for (int i = 0; i < 10; i++) {
            if (raw[i] != 0) {
                return false;
            }
        }
        return raw[10] == (byte) 0xff && raw[11] == (byte) 0xff;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Gid g && Arrays.equals(raw, g.raw);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(raw);
    }

    /** Eight groups of four hex digits, as {@code ibv_devinfo -v} prints it. */
    @Override
    public String toString() {
        String hex = HexFormat.of().formatHex(raw);
        StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 32; i += 4) {
            if (i > 0) {
                sb.append(':');
            }
            sb.append(hex, i, i + 4);
        }
        return sb.toString();
    }
}
