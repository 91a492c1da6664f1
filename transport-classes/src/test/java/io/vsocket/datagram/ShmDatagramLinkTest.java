package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.link.shm.InProcessShm;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.FileDescriptors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The record format of datagrams over a shm link, with both sides in this process (the attaching
 * side on duplicates of the offered descriptors): whole records or none, the confirmation first,
 * datagrams cut to a receive buffer, and a peer that writes impossible records through the raw
 * link refused with {@link RingProtocolException}.
 */
class ShmDatagramLinkTest {
    private static final int RING = 4096;
    private static final InetSocketAddress A = new InetSocketAddress("127.0.0.1", 4000);
    private static final InetSocketAddress B = new InetSocketAddress("127.0.0.1", 5000);
    /** The token B's resolver handed A: what B's confirmation must hold. */
    private static final long TOKEN = 0x1234_5678_9abc_def0L;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    /** The offering side's link, and the raw shm link of the attaching side (not yet wrapped). */
    private record Raw(ShmDatagramLink offered, ShmLink attached) {
    }

    private Raw raw() throws Exception {
        InProcessShm.Sides sides = InProcessShm.connect(RING, RING);
        ShmLink attached = sides.server();
        ShmDatagramLink offered = ShmDatagramLink.offered(sides.client(), B, TOKEN);
        toClose.add(offered);
        toClose.add(attached::close);
        return new Raw(offered, attached);
    }

    private ShmDatagramLink[] pair() throws Exception {
        Raw raw = raw();
        ShmDatagramLink attached = ShmDatagramLink.attached(raw.attached(), A);
        toClose.add(attached);
        attached.confirm(TOKEN);
        return new ShmDatagramLink[] {raw.offered(), attached};
    }

    private static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }

    private static String receive(ShmDatagramLink link, int max) throws RingProtocolException {
        int length = link.next();
        if (length < 0) {
            return null;
        }
        ByteBuf dst = Unpooled.buffer();
        link.readPayload(dst, max);
        return dst.toString(StandardCharsets.US_ASCII);
    }

    @Test
    void datagramsGoBothWaysWholeAndInOrderAfterTheConfirmation() throws Exception {
        ShmDatagramLink[] p = pair();
        ShmDatagramLink offered = p[0];
        ShmDatagramLink attached = p[1];
        assertFalse(offered.confirmed(), "the offering side has not read the confirmation yet");
        assertTrue(attached.confirmed());
        assertTrue(offered.send(text("one")));
        assertTrue(offered.send(text("")), "an empty datagram is a datagram");
        assertTrue(offered.send(text("three")));
        assertEquals(-1, attached.next(), "nothing is visible before the flush");
        offered.flush();
        assertEquals("one", receive(attached, 2048));
        assertEquals("", receive(attached, 2048));
        assertEquals("three", receive(attached, 2048));
        assertEquals(null, receive(attached, 2048));
        assertTrue(attached.send(text("back")));
        attached.flush();
        assertEquals("back", receive(offered, 2048));
        assertTrue(offered.confirmed(), "read before the first datagram back");
        assertEquals(3, offered.sent());
        assertEquals(3, attached.received());
    }

    @Test
    void aDatagramThatDoesNotFitTheCreditIsNotWrittenAtAll() throws Exception {
        ShmDatagramLink[] p = pair();
        ByteBuf big = Unpooled.buffer().writeZero(3000);
        assertTrue(p[0].send(big));
        assertFalse(p[0].send(big.duplicate()), "4 + 3000 more do not fit a 4 KiB ring: UDP takes it");
        assertTrue(p[0].send(text("small")), "a smaller one still fits");
        p[0].flush();
        assertEquals(3000, p[1].next());
        p[1].skipPayload();
        assertEquals("small", receive(p[1], 2048));
        assertEquals(-1, p[1].next());
    }

    @Test
    void aDatagramLongerThanTheReceiveBufferIsCutAndTheNextOneIsIntact() throws Exception {
        ShmDatagramLink[] p = pair();
        p[0].send(text("abcdefghij"));
        p[0].send(text("next"));
        p[0].flush();
        assertEquals("abcd", receive(p[1], 4));
        assertEquals("next", receive(p[1], 2048));
    }

    @Test
    void aClosedPeerTakesNothingMore() throws Exception {
        ShmDatagramLink[] p = pair();
        p[1].close();
        assertTrue(p[0].peerClosed());
        assertFalse(p[0].send(text("lost")));
    }

    /** Writes raw bytes into the offering side's receive ring as the attaching peer, and publishes them. */
    private static void writeRaw(ShmLink peer, ByteBuf bytes) throws RingProtocolException {
        peer.write(bytes, bytes.readerIndex(), bytes.readableBytes());
        peer.publish();
    }

    @Test
    void aDatagramBeforeTheConfirmationIsAProtocolError() throws Exception {
        Raw raw = raw();
        writeRaw(raw.attached(), Unpooled.buffer().writeInt(2).writeShort(7));
        assertThrows(RingProtocolException.class, raw.offered()::next);
    }

    @Test
    void recordsLongerThanADatagramOrTheRingAreProtocolErrors() throws Exception {
        for (int length : new int[] {65536, Integer.MAX_VALUE, RING - 3, -2}) {
            Raw raw = raw();
            writeRaw(raw.attached(), Unpooled.buffer().writeInt(-1).writeLong(TOKEN).writeInt(length));
            RingProtocolException e = assertThrows(RingProtocolException.class, raw.offered()::next, "length " + length);
            assertTrue(e.getMessage().contains("datagram record"), e.getMessage());
        }
    }

    @Test
    void aSecondConfirmationIsAProtocolError() throws Exception {
        Raw raw = raw();
        writeRaw(raw.attached(), Unpooled.buffer().writeInt(-1).writeLong(TOKEN).writeInt(-1).writeLong(TOKEN));
        assertThrows(RingProtocolException.class, raw.offered()::next);
    }

    @Test
    void aConfirmationWithAnotherTokenIsRefused() throws Exception {
        // A process that took the rendezvous name but does not own the peer's UDP port never saw the token.
        Raw raw = raw();
        writeRaw(raw.attached(), Unpooled.buffer().writeInt(-1).writeLong(TOKEN + 1));
        RingProtocolException e = assertThrows(RingProtocolException.class, raw.offered()::next);
        assertTrue(e.getMessage().contains("token"), e.getMessage());
        assertFalse(raw.offered().confirmed());
    }

    @Test
    void aConfirmationWithoutItsTokenIsRefused() throws Exception {
        Raw raw = raw();
        writeRaw(raw.attached(), Unpooled.buffer().writeInt(-1).writeShort(1));
        assertThrows(RingProtocolException.class, raw.offered()::next);
    }

    @Test
    void aRecordWhoseBytesHaveNotAllArrivedWaitsWithoutLosingItsHeader() throws Exception {
        Raw raw = raw();
        writeRaw(raw.attached(), Unpooled.buffer().writeInt(-1).writeLong(TOKEN).writeInt(6)
                .writeBytes("abc".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(-1, raw.offered().next(), "3 of 6 bytes");
        assertEquals(-1, raw.offered().next(), "asked again: still waiting, header kept");
        writeRaw(raw.attached(), Unpooled.copiedBuffer("def", StandardCharsets.US_ASCII));
        assertEquals("abcdef", receive(raw.offered(), 2048));
    }

    @Test
    void onlyAFreshlyAttachedLinkConfirms() throws Exception {
        Raw raw = raw();
        assertThrows(IllegalStateException.class, () -> raw.offered().confirm(TOKEN));
    }
}
