package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.sockaddr_in6;

import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Converts between {@link InetSocketAddress} and {@code struct sockaddr_in6}. IPv4 addresses are
 * written v4-mapped ({@code ::ffff:a.b.c.d}) and read back as {@link Inet4Address}, so one IPv6
 * socket serves both families.
 */
public final class SocketAddresses {
    private SocketAddresses() {
    }

    /** Fills {@code sa} (a {@code sockaddr_in6}) with {@code address}. */
    public static void write(MemorySegment sa, InetSocketAddress address) {
        if (address.isUnresolved()) {
            throw new IllegalArgumentException("unresolved address: " + address);
        }
        sa.fill((byte) 0);
        sockaddr_in6.sin6_family(sa, (short) LibC.AF_INET6);
        sockaddr_in6.sin6_port(sa, Short.reverseBytes((short) address.getPort()));
        InetAddress ip = address.getAddress();
        byte[] raw = ip.getAddress();
        MemorySegment addr = sockaddr_in6.sin6_addr(sa);
        if (ip instanceof Inet4Address) {
            addr.set(JAVA_BYTE, 10, (byte) 0xff);
            addr.set(JAVA_BYTE, 11, (byte) 0xff);
            MemorySegment.copy(raw, 0, addr, JAVA_BYTE, 12, 4);
        } else {
            MemorySegment.copy(raw, 0, addr, JAVA_BYTE, 0, 16);
            sockaddr_in6.sin6_scope_id(sa, ((Inet6Address) ip).getScopeId());
        }
    }

    /** Reads a {@code sockaddr_in6}. */
    public static InetSocketAddress read(MemorySegment sa) {
        int port = Short.toUnsignedInt(Short.reverseBytes(sockaddr_in6.sin6_port(sa)));
        byte[] raw = sockaddr_in6.sin6_addr(sa).toArray(JAVA_BYTE);
        try {
            boolean mapped = true;
            for (int i = 0; i < 10; i++) {
                mapped &= raw[i] == 0;
            }
            mapped &= raw[10] == (byte) 0xff && raw[11] == (byte) 0xff;
            InetAddress ip = mapped
                    ? InetAddress.getByAddress(new byte[] {raw[12], raw[13], raw[14], raw[15]})
                    : Inet6Address.getByAddress(null, raw, sockaddr_in6.sin6_scope_id(sa));
            return new InetSocketAddress(ip, port);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
