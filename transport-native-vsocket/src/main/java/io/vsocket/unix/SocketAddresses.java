package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.sockaddr_in;
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

    /**
     * Fills {@code storage} (a {@code sockaddr_storage}) with {@code address} (port 0) in its own
     * family: a {@code sockaddr_in} for IPv4, as the kernel wants an IPv4 multicast group or source.
     */
    public static void writeNative(MemorySegment storage, InetAddress address) {
        if (address instanceof Inet4Address) {
            storage.fill((byte) 0);
            sockaddr_in.sin_family(storage, (short) LibC.AF_INET);
            sockaddr_in.sin_addr(storage, address.getAddress());
        } else {
            write(storage, new InetSocketAddress(address, 0));
        }
    }

    /**
     * The address to bind a dual-stack socket to for {@code address}: the IPv4 wildcard
     * {@code 0.0.0.0} becomes {@code ::}, as the JDK binds it (v4-mapped, it would take IPv4 only,
     * and a socket bound to it would miss its IPv6 peers and groups).
     */
    public static InetSocketAddress forBind(InetSocketAddress address) {
        InetAddress ip = address.getAddress();
        if (ip instanceof Inet4Address && ip.isAnyLocalAddress()) {
            return new InetSocketAddress(ANY6, address.getPort());
        }
        return address;
    }

    private static final InetAddress ANY6;

    static {
        try {
            ANY6 = InetAddress.getByAddress(new byte[16]);
        } catch (UnknownHostException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** An IPv6 address with its scope only where it has one (else it would print as {@code %0}). */
    private static InetAddress scope(byte[] raw, int scopeId) throws UnknownHostException {
        return scopeId != 0 ? Inet6Address.getByAddress(null, raw, scopeId) : InetAddress.getByAddress(raw);
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
                    : scope(raw, sockaddr_in6.sin6_scope_id(sa));
            return new InetSocketAddress(ip, port);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
