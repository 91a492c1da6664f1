package io.vsocket.channel;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.ffm.ibverbs.ibv_ah_attr;
import io.vsocket.handshake.Hello;
import io.vsocket.handshake.HelloException;
import io.vsocket.link.HelloPart;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.stream.SendCursor;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.Mtu;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The rdma endpoint a peer announces as rdma's part of its hello (its ring's address, key and size,
 * queue pair, GID, MTU), with any values in a well-framed hello: the hello carries the part as it
 * came, and the link reads it faithfully or refuses it with a {@link HelloPartException}
 * (which fails the hello) exactly when the format says, then checks it as {@code RdmaHello} does
 * before the device sees it ({@link LinkSettings#validateRingSize}, an
 * {@link IllegalArgumentException} that fails the link). What passes must be usable by everything
 * {@code RdmaLink#connect} computes from it short of the device.
 */
class RdmaEndpointFuzzTest {
    /** gid[16] gidIndex:u8 qpn:u32 psn:u32 ringAddress:u64 rkey:u32 ringSize:u32 mtu:u16 */
    private static final int ENDPOINT = 16 + 1 + 4 + 4 + 8 + 4 + 4 + 2;
    private static final int HELLO_MAGIC_AND_VERSION = 9;

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void endpoint(FuzzedDataProvider data) throws Exception {
        boolean linkReady = data.consumeBoolean();
        ByteBuf body = Unpooled.buffer();
        int clientRing = 0;
        if (linkReady) {
            body.writeByte(VSocketLink.RDMA.ordinal());
            byte[] reason = data.consumeBytes(data.consumeInt(0, 4));
            body.writeByte(reason.length).writeBytes(reason);
        } else {
            body.writeBytes(data.consumeBytes(Hello.TOKEN_LENGTH)).writeZero(Hello.TOKEN_LENGTH - body.writerIndex());
            clientRing = data.consumeInt();
            body.writeByte(VSocketLink.RDMA.ordinal()).writeInt(clientRing);
        }
        // A whole endpoint, one byte short, or one byte too many.
        int extra = data.consumeInt(-1, 1);
        byte[] fields = data.consumeBytes(ENDPOINT + Math.min(extra, 0));
        byte[] trailing = data.consumeBytes(Math.max(extra, 0));
        body.writeShort(fields.length + trailing.length).writeBytes(fields).writeBytes(trailing);
        ByteBuf in = Unpooled.buffer();
        Hello.encode(new Hello.LinkReady(VSocketLink.TCP, ""), in); // for the magic and the version
        in.writerIndex(HELLO_MAGIC_AND_VERSION).writeByte(linkReady ? 3 : 2).writeShort(body.readableBytes())
                .writeBytes(body);

        ByteBuf endpoint = Unpooled.wrappedBuffer(fields);
        boolean wellFormed = fields.length == ENDPOINT && trailing.length == 0
                && isMtu(endpoint.getUnsignedShort(ENDPOINT - 2));
        Hello.Message message;
        try {
            message = Hello.decode(in);
        } catch (HelloException e) {
            throw new AssertionError("a well-framed hello was refused for its rdma part: " + e.getMessage(), e);
        }
        ByteBuf part = Unpooled.wrappedBuffer(linkReady ? ((Hello.LinkReady) message).part()
                : ((Hello.ClientHello) message).part());
        RdmaEndpoint peer;
        try {
            peer = RdmaEndpoint.read(part);
            HelloPart.requireEnd(part, "the rdma part");
        } catch (HelloPartException e) {
            assertFalse(wellFormed, "a well-formed rdma part was refused: " + e.getMessage());
            return;
        }
        assertTrue(wellFormed, "a malformed rdma part was taken");
        assertArrayEquals(Arrays.copyOf(fields, 16), peer.gid().toByteArray());
        assertEquals(endpoint.getUnsignedByte(16), peer.gidIndex());
        assertEquals(endpoint.getInt(17), peer.qpNumber());
        assertEquals(endpoint.getInt(21), peer.psn());
        assertEquals(endpoint.getLong(25), peer.ringAddress());
        assertEquals(endpoint.getInt(33), peer.rkey());
        assertEquals(endpoint.getInt(37), peer.ringSize());
        assertEquals(endpoint.getUnsignedShort(41), peer.mtu());

        // As the negotiation does: a size outside the bounds fails the link before the device sees it.
        for (int size : linkReady ? new int[] {peer.ringSize()} : new int[] {clientRing, peer.ringSize()}) {
            boolean allowed = size >= VSocketLinks.MIN_RING_SIZE && size <= VSocketLinks.MAX_RING_SIZE
                    && Integer.bitCount(size) == 1;
            try {
                LinkSettings.validateRingSize(size);
                assertTrue(allowed, "ring size " + size + " was taken");
            } catch (IllegalArgumentException e) {
                assertFalse(allowed, "ring size " + size + " was refused");
                return;
            }
        }
        // What RdmaLink#connect derives from the endpoint before it asks the device.
        SendCursor cursor = new SendCursor(peer.ringSize());
        assertTrue(cursor.capacity() / 4 >= 1);
        for (Mtu local : Mtu.values()) {
            Mtu.ofBytes(Math.min(local.bytes(), peer.mtu()));
        }
        try (Arena arena = Arena.ofConfined()) {
            AddressVector.roce(Gid.of(peer.gid().toByteArray()), 0, 1).writeTo(arena.allocate(ibv_ah_attr.LAYOUT));
        }
    }

    private static boolean isMtu(int bytes) {
        for (Mtu mtu : Mtu.values()) {
            if (mtu.bytes() == bytes) {
                return true;
            }
        }
        return false;
    }
}
