package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.vsocket.ffm.ibverbs.ibv_grh;
import io.vsocket.verbs.Gid;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One received UD datagram, as a {@link UdEndpoint.Listener} sees it: a view (a flyweight, reused
 * for every datagram of its endpoint) over the receive slot it arrived in, valid only during the
 * listener's call; the slot takes the next datagram after it. Copy the payload out
 * ({@link #readPayload(ByteBuf)}) to keep it.
 *
 * <p>The sender's address comes from the 40-byte GRH slot in front of the datagram: on RoCE v2 over
 * IPv6 (and on InfiniBand) an IPv6 header whose source is the sender's GID; on RoCE v2 over IPv4 the
 * packet's IPv4 header in the slot's last 20 bytes, its first 20 undefined. A completion from this
 * API does not say which, so the slot is read as the verbs library reads it: no IPv6 version nibble
 * at byte 0 means IPv4; with one, it is still IPv4 when bytes 20 to 39 are an IPv4 header without
 * options whose checksum holds (the undefined bytes may start like an IPv6 header; an IPv6 header's
 * bytes 20 to 39, the middle of its GIDs, pass that test only by a rare accident).
 */
public final class UdDatagram {
    private static final ValueLayout.OfInt BIG_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int IPV4_HEADER = 20;
    private static final int IPV4_SOURCE = 12;

    private MemorySegment memory;
    private ByteBuffer view;
    private long grh;
    private long payload;
    private int length;
    private long token;
    private int sourceQpn;
    private boolean ipv4;
    private long sourceHigh;
    private long sourceLow;

    UdDatagram() {
    }

    /** Points this view at the datagram whose GRH slot starts at {@code grh} of {@code memory}. */
    void wrap(MemorySegment memory, ByteBuffer view, long grh, int length, long token, int sourceQpn) {
        this.memory = memory;
        this.view = view;
        this.grh = grh;
        this.payload = grh + UdReceivePool.GRH + UdHeader.LENGTH;
        this.length = length;
        this.token = token;
        this.sourceQpn = sourceQpn;
        this.ipv4 = grhHoldsIpv4();
        if (ipv4) {
            sourceHigh = 0;
            sourceLow = Gids.lowOfIpv4(memory.get(BIG_INT, grh + IPV4_HEADER + IPV4_SOURCE));
        } else {
            sourceHigh = memory.get(Gids.BIG, grh + ibv_grh.sgid$OFFSET);
            sourceLow = memory.get(Gids.BIG, grh + ibv_grh.sgid$OFFSET + 8);
        }
    }

    /** The token the sender put in the header: the one this side handed it (see {@link PeerResolver#senderOf}). */
    public long token() {
        return token;
    }

    /** The sender's queue pair number, as the device reports it. */
    public int sourceQpn() {
        return sourceQpn;
    }

    /** The payload's length in bytes. */
    public int length() {
        return length;
    }

    /** The memory the payload lies in, at {@link #payloadOffset()}: valid only during the listener's call. */
    public MemorySegment memory() {
        return memory;
    }

    public long payloadOffset() {
        return payload;
    }

    /** The payload as a segment of its own (allocates a small object: for tests and slow paths). */
    public MemorySegment payload() {
        return memory.asSlice(payload, length);
    }

    /** Appends the payload to {@code dst} (at its writer index, which moves), without allocating. */
    public void readPayload(ByteBuf dst) {
        readPayload(dst, length);
    }

    /** Appends at most {@code max} bytes of the payload to {@code dst}: a receive buffer cuts a longer datagram, as on UDP. */
    public void readPayload(ByteBuf dst, int max) {
        view.limit((int) payload + Math.min(length, max)).position((int) payload);
        dst.writeBytes(view);
    }

    /** True when the datagram came over IPv4 (RoCE v2), so the source is a v4-mapped GID. */
    public boolean sourceIsIpv4() {
        return ipv4;
    }

    private boolean grhHoldsIpv4() {
        int first = memory.get(ValueLayout.JAVA_BYTE, grh) & 0xff;
        int v4 = memory.get(ValueLayout.JAVA_BYTE, grh + IPV4_HEADER) & 0xff;
        if (first >>> 4 != 6) {
            return v4 >>> 4 == 4;
        }
        return v4 == 0x45 && ipv4ChecksumValid();
    }

    private boolean ipv4ChecksumValid() {
        long at = grh + IPV4_HEADER;
        int sum = 0;
        for (int i = 0; i < IPV4_HEADER; i += 2) {
            sum += (memory.get(ValueLayout.JAVA_BYTE, at + i) & 0xff) << 8 | memory.get(ValueLayout.JAVA_BYTE, at + i + 1) & 0xff;
        }
        while (sum > 0xffff) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return sum == 0xffff;
    }

    /** The first eight bytes of the sender's GID, big-endian (0 for IPv4). */
    public long sourceGidHigh() {
        return sourceHigh;
    }

    /** The last eight bytes of the sender's GID, big-endian (for IPv4: {@code 0x0000ffff} then the address). */
    public long sourceGidLow() {
        return sourceLow;
    }

    /** The sender's GID (allocates: for logs and tests); its {@link Gid#toInetAddress()} is its IP address. */
    public Gid sourceGid() {
        return Gids.of(sourceGidHigh(), sourceGidLow());
    }

    @Override
    public String toString() {
        return "UdDatagram(" + length + " bytes from QPN 0x" + Integer.toHexString(sourceQpn) + ")";
    }
}
