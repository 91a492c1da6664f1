package io.vsocket.stream;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@link SendCursor} and a {@link ReceiveCursor} around one ring, moved by an honest writer and
 * reader and by a peer that claims any cursor value it likes (a shm peer writes any long into the
 * shared page; an rdma peer's immediates add up to any count). A claim is taken exactly when the
 * javadoc allows it, else it is a {@link RingProtocolException} that changes nothing; whatever was
 * taken, no cursor reports more than the ring holds, and honest bytes arrive intact.
 */
class CursorFuzzTest {
    /** Rings up to this size carry real bytes (checked); larger ones only cursors. */
    private static final int COPIED = 1 << 16;

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void cursors(FuzzedDataProvider data) throws RingProtocolException {
        int capacity = 1 << data.consumeInt(0, 30);
        SendCursor send = new SendCursor(capacity);
        ReceiveCursor receive = new ReceiveCursor(capacity);
        ByteBuffer ring = capacity <= COPIED ? ByteBuffer.allocate(capacity) : null;
        boolean lied = false;
        while (data.remainingBytes() > 0) {
            long produced = send.produced();
            long consumed = receive.consumed();
            int credit = send.credit();
            int readable = receive.readable();
            switch (data.consumeInt(0, 5)) {
                case 0 -> {
                    int n = data.consumeInt(0, credit);
                    if (ring != null) {
                        RingCopy.in(send, ring, pattern(produced, n), 0, n);
                    } else {
                        send.advance(n);
                    }
                    assertEquals(produced + n, send.produced());
                }
                case 1 -> {
                    int n = data.consumeInt(0, readable);
                    if (ring != null) {
                        ByteBuf dst = Unpooled.buffer(n);
                        RingCopy.out(receive, ring, dst, 0, n);
                        if (!lied) {
                            assertEquals(pattern(consumed, n), dst.writerIndex(n), "not the bytes written");
                        }
                    } else {
                        receive.advance(n);
                    }
                    assertEquals(consumed + n, receive.consumed());
                }
                case 2 -> lied |= !claimProduced(receive, produced, produced, lied);
                case 3 -> lied |= !claimConsumed(send, consumed, consumed, lied);
                case 4 -> lied |= !claimProduced(receive, claim(data, produced, capacity), produced, true);
                default -> lied |= !claimConsumed(send, claim(data, consumed, capacity), consumed, true);
            }
            check(send, receive);
            assertTrue(send.produced() >= produced && receive.consumed() >= consumed, "a cursor went back");
        }
    }

    /** Any long, or one within a lap of {@code near} (where the boundaries are). */
    private static long claim(FuzzedDataProvider data, long near, int capacity) {
        return data.consumeBoolean() ? data.consumeLong() : near + data.consumeLong(-2L * capacity, 2L * capacity);
    }

    /**
     * Hands {@code claim} to the receiver, which must take it exactly when its javadoc allows (a
     * refusal changes nothing); false when it took a value other than the {@code honest} one.
     */
    private static boolean claimProduced(ReceiveCursor receive, long claim, long honest, boolean mayFail) {
        long consumed = receive.consumed();
        int readable = receive.readable();
        long produced = consumed + readable;
        boolean allowed = claim >= produced && claim - consumed <= receive.capacity();
        try {
            receive.produced(claim);
        } catch (RingProtocolException e) {
            assertTrue(mayFail && !allowed, "an honest producer cursor was refused: " + e.getMessage());
            assertEquals(consumed, receive.consumed());
            assertEquals(readable, receive.readable(), "a refused cursor moved the receiver");
            return true;
        }
        assertTrue(allowed, "an impossible producer cursor was taken: " + claim + " after " + produced);
        assertEquals(claim - consumed, receive.readable());
        return claim == honest;
    }

    private static boolean claimConsumed(SendCursor send, long claim, long honest, boolean mayFail) {
        long produced = send.produced();
        int credit = send.credit();
        long consumed = produced - (send.capacity() - credit);
        boolean allowed = claim >= consumed && claim <= produced;
        try {
            send.consumed(claim);
        } catch (RingProtocolException e) {
            assertTrue(mayFail && !allowed, "an honest consumer cursor was refused: " + e.getMessage());
            assertEquals(credit, send.credit(), "a refused cursor moved the sender");
            return true;
        }
        assertTrue(allowed, "an impossible consumer cursor was taken: " + claim + " after " + consumed);
        assertEquals(send.capacity() - (produced - claim), send.credit());
        return claim == honest;
    }

    private static void check(SendCursor send, ReceiveCursor receive) {
        int capacity = send.capacity();
        assertTrue(send.credit() >= 0 && send.credit() <= capacity, "credit " + send.credit());
        assertEquals(send.produced() & capacity - 1, send.position());
        assertEquals(capacity - send.position(), send.contiguous());
        int readable = receive.readable();
        assertTrue(readable >= 0 && readable <= capacity, "readable " + readable + " in a ring of " + capacity);
        assertEquals(receive.consumed() & capacity - 1, receive.position());
        assertEquals(Math.min(readable, capacity - receive.position()), receive.contiguous());
    }

    private static ByteBuf pattern(long from, int n) {
        ByteBuf buf = Unpooled.buffer(n);
        for (int i = 0; i < n; i++) {
            long at = from + i;
            buf.writeByte((int) (at ^ at >>> 8 ^ at >>> 17));
        }
        return buf;
    }
}
