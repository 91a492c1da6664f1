package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.link.HelloPart;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.link.shm.ShmHello;
import io.vsocket.verbs.Gid;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hello wire format: round trips, incomplete input, framing, and every way a hello can be malformed. */
class HelloTest {
    private static final int VERSION_AT = 8;
    private static final int TYPE_AT = 9;
    private static final int LENGTH_AT = 10;

    private static byte[] token(int seed) {
        byte[] token = new byte[Hello.TOKEN_LENGTH];
        for (int i = 0; i < token.length; i++) {
            token[i] = (byte) (seed * 37 + i * 11 + 3);
        }
        return token;
    }

    private static Hello.ServerHello serverHello() {
        return new Hello.ServerHello(token(1), 1 << 20, Map.of(VSocketLink.SHM,
                shmPart("host-\u00e9\u4e2d-7f3a", "@vsocket/rendezvous/42"), VSocketLink.TCP, Hello.NO_PART));
    }

    private static byte[] shmPart(String hostId, String rendezvous) {
        return Hello.part(new ShmHello.OfferPart(hostId, rendezvous)::write);
    }

    private static Hello.ClientHello clientHello() {
        return new Hello.ClientHello(token(2), VSocketLink.RDMA, 65536, Hello.part(endpoint(5)::write));
    }

    private static Map<VSocketLink, byte[]> offers(VSocketLink... links) {
        Map<VSocketLink, byte[]> parts = new EnumMap<>(VSocketLink.class);
        for (VSocketLink link : links) {
            parts.put(link, link == VSocketLink.TCP ? Hello.NO_PART : token(link.ordinal()));
        }
        return parts;
    }

    /** An rdma endpoint with every field at a value that a wrong width or order would change. */
    private static RdmaEndpoint endpoint(int seed) {
        return new RdmaEndpoint(Gid.of(token(seed)), 200 + seed, 0x00abcdef - seed, 0x00fedcba + seed,
                0x7f12_3456_789a_bcdeL + seed, 0x8765_4321 + seed, 1 << (12 + seed), 1024);
    }

    private static Hello.LinkReady linkReady() {
        return new Hello.LinkReady(VSocketLink.TCP, "shm: the peer is on another host");
    }

    private static ByteBuf encoded(Hello.Message message) {
        ByteBuf out = Unpooled.buffer();
        encodeInto(message, out);
        return out;
    }

    private static void encodeInto(Hello.Message message, ByteBuf out) {
        switch (message) {
            case Hello.ServerHello m -> Hello.encode(m, out);
            case Hello.ClientHello m -> Hello.encode(m, out);
            case Hello.LinkReady m -> Hello.encode(m, out);
        }
    }

    private static byte[] bytes(ByteBuf buf) {
        byte[] bytes = new byte[buf.readableBytes()];
        buf.getBytes(buf.readerIndex(), bytes);
        return bytes;
    }

    private static void assertSameMessage(Hello.Message expected, Hello.Message actual) {
        assertEquals(expected.getClass(), actual.getClass());
        switch (expected) {
            case Hello.ServerHello e -> {
                Hello.ServerHello a = (Hello.ServerHello) actual;
                assertArrayEquals(e.token(), a.token(), "token");
                assertEquals(e.links(), a.links(), "links");
                assertEquals(e.ringSize(), a.ringSize(), "ringSize");
                for (VSocketLink link : e.links()) {
                    assertArrayEquals(e.parts().get(link), a.parts().get(link), link + "'s part");
                }
            }
            case Hello.ClientHello e -> {
                Hello.ClientHello a = (Hello.ClientHello) actual;
                assertArrayEquals(e.token(), a.token(), "token");
                assertEquals(e.link(), a.link(), "link");
                assertEquals(e.ringSize(), a.ringSize(), "ringSize");
                assertArrayEquals(e.part(), a.part(), "part");
            }
            case Hello.LinkReady e -> {
                Hello.LinkReady a = (Hello.LinkReady) actual;
                assertEquals(e.link(), a.link(), "link");
                assertEquals(e.reason(), a.reason(), "reason");
                assertArrayEquals(e.part(), a.part(), "part");
            }
        }
    }

    private static List<Hello.Message> samples() {
        return List.of(serverHello(), clientHello(), linkReady(),
                new Hello.ServerHello(new byte[Hello.TOKEN_LENGTH], 0, Map.of()),
                new Hello.ServerHello(token(9), -1, Map.of(VSocketLink.SHM, shmPart("h".repeat(255), "r".repeat(255)),
                        VSocketLink.RDMA, new byte[300], VSocketLink.TCP, Hello.NO_PART)),
                new Hello.ClientHello(token(3), VSocketLink.SHM, Integer.MAX_VALUE),
                new Hello.ClientHello(token(4), VSocketLink.TCP, 0),
                new Hello.LinkReady(VSocketLink.SHM, ""),
                new Hello.LinkReady(VSocketLink.RDMA, "x".repeat(255), Hello.part(endpoint(7)::write)));
    }

    @Test
    void everyMessageSurvivesARoundTrip() throws Exception {
        for (Hello.Message message : samples()) {
            ByteBuf buf = encoded(message);
            int size = buf.readableBytes();
            assertEquals(Hello.HEADER + buf.getUnsignedShort(LENGTH_AT), size, "header length covers the body: " + message);
            assertTrue(Hello.startsLikeHello(buf));
            Hello.Message decoded = Hello.decode(buf);
            assertSameMessage(message, decoded);
            assertEquals(0, buf.readableBytes(), "the whole message is consumed");
            assertEquals(size, buf.readerIndex());
        }
    }

    @Test
    void roundTripOnADirectBuffer() throws Exception {
        for (Hello.Message message : samples()) {
            ByteBuf buf = Unpooled.directBuffer();
            try {
                encodeInto(message, buf);
                assertSameMessage(message, Hello.decode(buf));
                assertFalse(buf.isReadable());
            } finally {
                buf.release();
            }
        }
    }

    @Test
    void theHeaderIsTheDocumentedLayout() {
        ByteBuf buf = encoded(clientHello());
        assertArrayEquals(Hello.MAGIC, Arrays.copyOf(bytes(buf), 8));
        assertEquals(Hello.VERSION, buf.getUnsignedByte(VERSION_AT));
        assertEquals(Hello.CLIENT_HELLO, buf.getUnsignedByte(TYPE_AT));
        // token[16] link:u8 ringSize:u32 partLength:u16, then rdma's part, the endpoint:
        // gid[16] gidIndex:u8 qpn:u32 psn:u32 ringAddress:u64 rkey:u32 ringSize:u32 mtu:u16
        int endpointBytes = 16 + 1 + 4 + 4 + 8 + 4 + 4 + 2;
        assertEquals(endpointBytes, RdmaEndpoint.BYTES);
        assertEquals(Hello.TOKEN_LENGTH + 1 + 4 + 2 + endpointBytes, buf.getUnsignedShort(LENGTH_AT));
        assertEquals(VSocketLink.RDMA.ordinal(), buf.getUnsignedByte(Hello.HEADER + Hello.TOKEN_LENGTH));
        assertEquals(65536, buf.getInt(Hello.HEADER + Hello.TOKEN_LENGTH + 1), "ringSize is big-endian");
        assertEquals(endpointBytes, buf.getUnsignedShort(Hello.HEADER + Hello.TOKEN_LENGTH + 1 + 4), "the part's length");
        int endpoint = Hello.HEADER + Hello.TOKEN_LENGTH + 1 + 4 + 2;
        RdmaEndpoint expected = endpoint(5);
        byte[] gid = new byte[16];
        buf.getBytes(endpoint, gid);
        assertArrayEquals(expected.gid().toByteArray(), gid);
        assertEquals(expected.gidIndex(), buf.getUnsignedByte(endpoint + 16));
        assertEquals(expected.qpNumber(), buf.getInt(endpoint + 17));
        assertEquals(expected.psn(), buf.getInt(endpoint + 21));
        assertEquals(expected.ringAddress(), buf.getLong(endpoint + 25));
        assertEquals(expected.rkey(), buf.getInt(endpoint + 33));
        assertEquals(expected.ringSize(), buf.getInt(endpoint + 37));
        assertEquals(expected.mtu(), buf.getUnsignedShort(endpoint + 41));
    }

    @Test
    void aLinksPartIsOpaqueToTheHelloAndReadByTheLink() throws Exception {
        ByteBuf buf = encoded(clientHello());
        int mtuAt = buf.writerIndex() - 2;
        buf.setShort(mtuAt, 1500);
        Hello.ClientHello decoded = assertInstanceOf(Hello.ClientHello.class, Hello.decode(buf));
        HelloPartException e = assertThrows(HelloPartException.class,
                () -> RdmaEndpoint.read(Unpooled.wrappedBuffer(decoded.part())));
        assertTrue(e.getMessage().contains("MTU"), e.getMessage());
        assertEquals(endpoint(5), RdmaEndpoint.read(Unpooled.wrappedBuffer(clientHello().part())));
    }

    @Test
    void eachLinksPartReadsBackWhatItWroteAndRefusesLessOrMore() throws Exception {
        ShmHello.OfferPart shm = new ShmHello.OfferPart("host-\u00e9", "@vsocket/r");
        byte[] shmBytes = Hello.part(shm::write);
        assertEquals(shm, ShmHello.OfferPart.read(Unpooled.wrappedBuffer(shmBytes)));
        byte[] rdmaBytes = Hello.part(endpoint(3)::write);
        assertEquals(RdmaEndpoint.BYTES, rdmaBytes.length);
        for (int n = 0; n < shmBytes.length; n++) {
            ByteBuf cut = Unpooled.wrappedBuffer(shmBytes, 0, n);
            assertThrows(HelloPartException.class, () -> ShmHello.OfferPart.read(cut), "shm part cut at " + n);
        }
        for (int n = 0; n < rdmaBytes.length; n++) {
            ByteBuf cut = Unpooled.wrappedBuffer(rdmaBytes, 0, n);
            assertThrows(HelloPartException.class, () -> RdmaEndpoint.read(cut), "rdma part cut at " + n);
        }
        ByteBuf longer = Unpooled.buffer().writeBytes(shmBytes).writeByte(0);
        HelloPartException stray = assertThrows(HelloPartException.class, () -> ShmHello.OfferPart.read(longer));
        assertTrue(stray.getMessage().contains("1 stray bytes"), stray.getMessage());
    }

    @Test
    void tcpHasNoPart() {
        ByteBuf ready = Unpooled.buffer();
        ready.writeBytes(Hello.MAGIC).writeByte(Hello.VERSION).writeByte(Hello.LINK_READY).writeShort(0);
        ready.writeByte(VSocketLink.TCP.ordinal()).writeByte(0).writeShort(2).writeShort(0x4142);
        ready.setShort(LENGTH_AT, ready.readableBytes() - Hello.HEADER);
        assertMalformed(ready, "tcp a part of 2 bytes");
    }

    @Test
    void aPartLongerThanWhatIsLeftOfTheBodyIsTruncated() {
        ByteBuf buf = encoded(clientHello());
        int partLengthAt = Hello.HEADER + Hello.TOKEN_LENGTH + 1 + 4;
        buf.setShort(partLengthAt, 0xFFFF);
        assertMalformed(buf, "truncated");
    }

    @Test
    void aBodyOverMaxBodyCannotBeEncoded() {
        Map<VSocketLink, byte[]> parts = Map.of(VSocketLink.SHM, new byte[Hello.MAX_BODY / 2],
                VSocketLink.RDMA, new byte[Hello.MAX_BODY / 2]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Hello.encode(new Hello.ServerHello(token(1), 4096, parts), Unpooled.buffer()));
        assertTrue(e.getMessage().contains("exceeds " + Hello.MAX_BODY), e.getMessage());
    }

    @Test
    void aPartLargerThanABodyCannotBeEncoded() {
        assertThrows(IllegalArgumentException.class, () -> Hello.encode(new Hello.ClientHello(token(1),
                VSocketLink.RDMA, 4096, new byte[Hello.MAX_BODY + 1]), Unpooled.buffer()));
    }

    @Test
    void everyStrictPrefixIsIncompleteAndConsumesNothing() throws Exception {
        for (Hello.Message message : samples()) {
            byte[] whole = bytes(encoded(message));
            for (int n = 0; n < whole.length; n++) {
                ByteBuf prefix = Unpooled.wrappedBuffer(whole, 0, n);
                assertTrue(Hello.startsLikeHello(prefix), "prefix of " + n);
                assertNull(Hello.decode(prefix), "prefix of " + n + " of " + whole.length + " bytes");
                assertEquals(0, prefix.readerIndex(), "nothing consumed for a prefix of " + n);
                assertEquals(n, prefix.readableBytes());
            }
        }
    }

    @Test
    void bytesArrivingOneAtATimeDecodeOnlyOnceComplete() throws Exception {
        byte[] whole = bytes(encoded(serverHello()));
        ByteBuf in = Unpooled.buffer();
        Hello.Message decoded = null;
        for (int i = 0; i < whole.length; i++) {
            assertNull(decoded, "decoded early, at " + i + " of " + whole.length);
            in.writeByte(whole[i]);
            decoded = Hello.decode(in);
        }
        assertSameMessage(serverHello(), decoded);
        assertFalse(in.isReadable());
    }

    @Test
    void backToBackMessagesDecodeOneAtATimeAndLeaveApplicationBytes() throws Exception {
        ByteBuf in = Unpooled.buffer();
        Hello.encode(serverHello(), in);
        int firstEnd = in.writerIndex();
        Hello.encode(linkReady(), in);
        int secondEnd = in.writerIndex();
        byte[] application = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        in.writeBytes(application);

        assertSameMessage(serverHello(), Hello.decode(in));
        assertEquals(firstEnd, in.readerIndex(), "only the first message is consumed");
        assertSameMessage(linkReady(), Hello.decode(in));
        assertEquals(secondEnd, in.readerIndex(), "only the second message is consumed");
        assertArrayEquals(application, bytes(in), "application bytes are left untouched");
        assertFalse(Hello.startsLikeHello(in));
        assertThrows(HelloException.class, () -> Hello.decode(in));
        assertEquals(secondEnd, in.readerIndex());
    }

    @Test
    void aCompleteMessageFollowedByAPartialOne() throws Exception {
        ByteBuf in = Unpooled.buffer();
        Hello.encode(clientHello(), in);
        int firstEnd = in.writerIndex();
        byte[] second = bytes(encoded(linkReady()));
        in.writeBytes(second, 0, second.length - 1);
        assertSameMessage(clientHello(), Hello.decode(in));
        assertEquals(firstEnd, in.readerIndex());
        assertNull(Hello.decode(in));
        assertEquals(firstEnd, in.readerIndex());
        in.writeByte(second[second.length - 1]);
        assertSameMessage(linkReady(), Hello.decode(in));
        assertFalse(in.isReadable());
    }

    @Test
    void plainProtocolsDoNotLookLikeAHello() {
        ByteBuf http = Unpooled.copiedBuffer("GET / HTTP/1.1\r\n", StandardCharsets.US_ASCII);
        assertFalse(Hello.startsLikeHello(http));
        assertEquals(0, http.readerIndex(), "startsLikeHello does not consume");
        assertFalse(Hello.startsLikeHello(Unpooled.wrappedBuffer(new byte[] {0x16, 0x03, 0x01})), "TLS");
        assertFalse(Hello.startsLikeHello(Unpooled.wrappedBuffer(new byte[] {0x00, 'v', 'S', 'X'})),
                "diverges from the magic inside a prefix");
        assertTrue(Hello.startsLikeHello(Unpooled.wrappedBuffer(new byte[] {0x00, 'v'})), "a prefix of the magic");
        assertTrue(Hello.startsLikeHello(Unpooled.EMPTY_BUFFER), "nothing yet is not yet a mismatch");
    }

    @Test
    void decodingAPlainProtocolThrowsAndShowsTheBytes() {
        ByteBuf http = Unpooled.copiedBuffer("GET / HTTP/1.1\r\n", StandardCharsets.US_ASCII);
        HelloException e = assertThrows(HelloException.class, () -> Hello.decode(http));
        assertTrue(e.getMessage().contains("474554202f204854"), e.getMessage()); // "GET / HT" in hex
        assertEquals(0, http.readerIndex());
    }

    @Test
    void startsLikeHelloLooksFromTheReaderIndex() throws Exception {
        ByteBuf in = Unpooled.buffer();
        in.writeBytes("xyz".getBytes(StandardCharsets.US_ASCII));
        Hello.encode(clientHello(), in);
        assertFalse(Hello.startsLikeHello(in));
        in.skipBytes(3);
        assertTrue(Hello.startsLikeHello(in));
        assertSameMessage(clientHello(), Hello.decode(in));
    }

    // ---- malformed ------------------------------------------------------------------------------

    private static HelloException assertMalformed(ByteBuf buf, String... fragments) {
        int readerIndex = buf.readerIndex();
        HelloException e = assertThrows(HelloException.class, () -> Hello.decode(buf));
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "'" + e.getMessage() + "' should mention '" + fragment + "'");
        }
        assertEquals(readerIndex, buf.readerIndex(), "a malformed hello consumes nothing");
        return e;
    }

    @Test
    void wrongVersion() {
        ByteBuf buf = encoded(clientHello());
        buf.setByte(VERSION_AT, 4); // a peer that sends eventfds as doorbells, which its peer can make a ring block on
        assertMalformed(buf, "version 4");
        buf.setByte(VERSION_AT, 3); // a peer whose shm doorbells a ring of zero would not wake
        assertMalformed(buf, "version 3");
        buf.setByte(VERSION_AT, 2); // a peer that would read a late hello behind a mark as the application's bytes
        assertMalformed(buf, "version 2");
        buf.setByte(VERSION_AT, 1); // the format before each link's part was its own
        assertMalformed(buf, "version 1");
        buf.setByte(VERSION_AT, 0);
        assertMalformed(buf, "version 0");
    }

    @Test
    void wrongVersionIsReportedAsSoonAsTheHeaderIsThere() {
        ByteBuf buf = encoded(serverHello());
        buf.setByte(VERSION_AT, 7);
        buf.writerIndex(Hello.HEADER); // no body yet: the header alone is enough to know
        assertMalformed(buf, "version 7");
    }

    @Test
    void bodyLongerThanMaxBody() {
        ByteBuf header = Unpooled.buffer();
        header.writeBytes(Hello.MAGIC).writeByte(Hello.VERSION).writeByte(Hello.CLIENT_HELLO).writeShort(Hello.MAX_BODY + 1);
        assertMalformed(header, String.valueOf(Hello.MAX_BODY + 1), String.valueOf(Hello.MAX_BODY));

        ByteBuf huge = Unpooled.buffer();
        huge.writeBytes(Hello.MAGIC).writeByte(Hello.VERSION).writeByte(Hello.SERVER_HELLO).writeShort(0xFFFF);
        assertMalformed(huge, "65535");
    }

    @Test
    void bodyOfExactlyMaxBodyIsOnlyIncompleteUntilItArrives() throws Exception {
        ByteBuf buf = Unpooled.buffer();
        buf.writeBytes(Hello.MAGIC).writeByte(Hello.VERSION).writeByte(Hello.LINK_READY).writeShort(Hello.MAX_BODY);
        assertNull(Hello.decode(buf), "a body of MAX_BODY bytes is allowed: wait for it");
        buf.writeZero(Hello.MAX_BODY);
        // link SHM, reason "", then stray zeros: now it is malformed, but for the stray bytes, not the length.
        assertMalformed(buf, "stray");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 4, 255})
    void unknownType(int type) {
        ByteBuf buf = encoded(linkReady());
        buf.setByte(TYPE_AT, type);
        assertMalformed(buf, "type " + type);
    }

    @Test
    void unknownLinkCode() {
        int count = VSocketLink.values().length;
        ByteBuf client = encoded(clientHello());
        client.setByte(Hello.HEADER + Hello.TOKEN_LENGTH, count);
        assertMalformed(client, "unknown link " + count);

        ByteBuf ready = encoded(linkReady());
        ready.setByte(Hello.HEADER, 0xFF);
        assertMalformed(ready, "unknown link 255");
    }

    @Test
    void offersOfUnknownLinksTwiceOrOutOfOrder() {
        int tcpAt = Hello.HEADER + Hello.TOKEN_LENGTH + 4 + 1 + 1 + 2 + serverHello().parts().get(VSocketLink.SHM).length;
        ByteBuf buf = encoded(serverHello());
        assertEquals(VSocketLink.TCP.ordinal(), buf.getUnsignedByte(tcpAt), "the second offer's link");
        buf.setByte(tcpAt, VSocketLink.values().length);
        assertMalformed(buf, "unknown link " + VSocketLink.values().length);

        ByteBuf twice = encoded(serverHello());
        twice.setByte(tcpAt, VSocketLink.SHM.ordinal());
        assertMalformed(twice, "SHM twice or out of order");

        ByteBuf reversed = Unpooled.buffer();
        reversed.writeBytes(Hello.MAGIC).writeByte(Hello.VERSION).writeByte(Hello.SERVER_HELLO).writeShort(0);
        reversed.writeBytes(token(1)).writeInt(4096).writeByte(2);
        reversed.writeByte(VSocketLink.TCP.ordinal()).writeShort(0).writeByte(VSocketLink.SHM.ordinal()).writeShort(0);
        reversed.setShort(LENGTH_AT, reversed.readableBytes() - Hello.HEADER);
        assertMalformed(reversed, "SHM twice or out of order");
    }

    /** Claims a shorter body than the fields need; the bytes after the claimed body are all there. */
    @Test
    void bodyShorterThanItsFixedFields() {
        for (Hello.Message message : List.of(serverHello(), clientHello(), linkReady())) {
            ByteBuf buf = encoded(message);
            int real = buf.getUnsignedShort(LENGTH_AT);
            int type = buf.getUnsignedByte(TYPE_AT);
            for (int claimed : new int[] {0, 1}) {
                ByteBuf copy = buf.copy();
                copy.setShort(LENGTH_AT, claimed);
                assertMalformed(copy, "type " + type, "truncated", claimed + " bytes");
            }
            if (message instanceof Hello.ClientHello) {
                ByteBuf copy = buf.copy();
                copy.setShort(LENGTH_AT, real - 1); // ringSize cut by one byte
                assertMalformed(copy, "truncated");
            }
        }
    }

    /** The same, on a direct buffer that holds exactly the claimed message and nothing after it. */
    @Test
    void bodyEndingInsideAStringOnAnExactBuffer() {
        ByteBuf buf = encoded(linkReady());
        int real = buf.getUnsignedShort(LENGTH_AT);
        for (int claimed = 1; claimed < real; claimed++) {
            ByteBuf exact = Unpooled.directBuffer(Hello.HEADER + claimed);
            try {
                exact.writeBytes(buf, 0, Hello.HEADER + claimed);
                exact.setShort(LENGTH_AT, claimed);
                assertMalformed(exact, "truncated");
            } finally {
                exact.release();
            }
        }
    }

    /**
     * The claimed body ends inside the reason string, and more bytes follow in the buffer (the next
     * message, or application data). The string must not be read past the body.
     */
    @Test
    void bodyEndingInsideAStringIsMalformedEvenWithMoreBytesBehindIt() {
        ByteBuf buf = encoded(linkReady());
        int real = buf.getUnsignedShort(LENGTH_AT);
        for (int claimed = 2; claimed < real; claimed++) {
            ByteBuf copy = buf.copy(); // heap buffer: all real bytes still there after the claimed body
            copy.setShort(LENGTH_AT, claimed);
            assertMalformed(copy, "truncated");
        }
    }

    @Test
    void strayBytesAfterTheFields() throws Exception {
        for (Hello.Message message : List.of(serverHello(), clientHello(), linkReady())) {
            for (int extra : new int[] {1, 3}) {
                ByteBuf buf = encoded(message);
                int type = buf.getUnsignedByte(TYPE_AT);
                buf.setShort(LENGTH_AT, buf.getUnsignedShort(LENGTH_AT) + extra);
                assertNull(Hello.decode(buf), "incomplete until the claimed body is all there");
                buf.writeZero(extra);
                assertMalformed(buf, "type " + type, extra + " stray bytes");
            }
        }
    }

    @Test
    void stringsLongerThan255BytesCannotBeEncoded() {
        String tooLong = "\u00e9".repeat(128); // 256 UTF-8 bytes
        ByteBuf out = Unpooled.buffer();
        assertThrows(IllegalArgumentException.class, () -> Hello.encode(new Hello.LinkReady(VSocketLink.TCP, tooLong), out));
        assertThrows(IllegalArgumentException.class, () -> HelloPart.writeString(Unpooled.buffer(), tooLong));
    }

    @Test
    void decodedOffersAreExactlyTheLinksListed() throws Exception {
        for (int mask = 0; mask < 1 << VSocketLink.values().length; mask++) {
            List<VSocketLink> listed = new java.util.ArrayList<>();
            for (VSocketLink link : VSocketLink.values()) {
                if ((mask & 1 << link.ordinal()) != 0) {
                    listed.add(link);
                }
            }
            Hello.ServerHello hello = new Hello.ServerHello(token(mask), 8192, offers(listed.toArray(VSocketLink[]::new)));
            ByteBuf buf = encoded(hello);
            assertEquals(listed.size(), buf.getUnsignedByte(Hello.HEADER + Hello.TOKEN_LENGTH + 4), "count");
            Hello.ServerHello decoded = assertInstanceOf(Hello.ServerHello.class, Hello.decode(buf));
            assertEquals(List.copyOf(listed), List.copyOf(decoded.links()));
            assertSameMessage(hello, decoded);
        }
    }
}
