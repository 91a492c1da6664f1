package io.vsocket.datagram;

import io.vsocket.verbs.Gid;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A GID as two longs (its first and last eight bytes, big-endian), so that comparing the sender of
 * every datagram with what its resolution said allocates nothing. An IPv4 address is the
 * v4-mapped GID {@code ::ffff:a.b.c.d}: high 0, low {@code 0x0000ffff_aabbccdd}.
 */
final class Gids {
    static final ValueLayout.OfLong BIG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final long V4_MAPPED = 0x0000_ffff_0000_0000L;

    private Gids() {
    }

    static long high(Gid gid) {
        return MemorySegment.ofArray(gid.toByteArray()).get(BIG, 0);
    }

    static long low(Gid gid) {
        return MemorySegment.ofArray(gid.toByteArray()).get(BIG, 8);
    }

    /** The low half of the v4-mapped GID of IPv4 address {@code ipv4} (network order, as an int). */
    static long lowOfIpv4(int ipv4) {
        return V4_MAPPED | Integer.toUnsignedLong(ipv4);
    }

    static Gid of(long high, long low) {
        byte[] raw = new byte[Gid.BYTES];
        MemorySegment bytes = MemorySegment.ofArray(raw);
        bytes.set(BIG, 0, high);
        bytes.set(BIG, 8, low);
        return Gid.of(raw);
    }

    /**
     * A GID no queue pair can be reached at: all zero, or multicast ({@code ff00::/8}; UD multicast
     * needs a group, which a resolution never names).
     */
    static boolean impossible(long high, long low) {
        return high == 0 && low == 0 || (high >>> 56) == 0xff;
    }
}
