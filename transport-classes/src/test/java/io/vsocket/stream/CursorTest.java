package io.vsocket.stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ring cursor arithmetic: credit, positions across wrap-around, and impossible peer cursors. */
class CursorTest {

    @Test
    void sendCursorStartsWithFullCredit() {
        SendCursor send = new SendCursor(16);
        assertEquals(16, send.capacity());
        assertEquals(16, send.credit());
        assertEquals(0, send.produced());
        assertEquals(0, send.position());
        assertEquals(16, send.contiguous());
    }

    @Test
    void sendCursorAcrossWrapAround() throws Exception {
        SendCursor send = new SendCursor(16);
        send.advance(10);
        assertEquals(10, send.produced());
        assertEquals(6, send.credit());
        assertEquals(10, send.position());
        assertEquals(6, send.contiguous());

        send.consumed(8); // the peer read 8
        assertEquals(14, send.credit());
        assertEquals(6, send.contiguous(), "contiguous stops at the end of the ring, not at credit");

        send.advance(6); // up to the end of the ring
        assertEquals(16, send.produced());
        assertEquals(0, send.position(), "wrapped to the start");
        assertEquals(16, send.contiguous());
        assertEquals(8, send.credit());

        send.advance(8); // fills the ring again: 8..23 in flight
        assertEquals(24, send.produced());
        assertEquals(0, send.credit());
        assertEquals(8, send.position());

        send.consumed(24);
        assertEquals(16, send.credit());
        assertEquals(8, send.position());
        assertEquals(8, send.contiguous());
    }

    @Test
    void sendCursorPositionAfterManyLaps() throws Exception {
        SendCursor send = new SendCursor(4096);
        long total = 0;
        for (int lap = 0; lap < 1000; lap++) {
            send.advance(4096 - 1);
            send.advance(1);
            total += 4096;
            send.consumed(total);
            assertEquals(0, send.position());
        }
        send.advance(123);
        assertEquals(total + 123, send.produced());
        assertEquals(123, send.position());
        assertEquals(4096 - 123, send.contiguous());
        assertEquals(4096 - 123, send.credit());
    }

    @Test
    void consumedRejectsMovingBackwards() throws Exception {
        SendCursor send = new SendCursor(64);
        send.advance(40);
        send.consumed(30);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> send.consumed(29));
        assertTrue(e.getMessage().contains("29"), e.getMessage());
        assertEquals(64 - 10, send.credit(), "a rejected cursor changes nothing");
        assertThrows(RingProtocolException.class, () -> send.consumed(-1));
        assertThrows(RingProtocolException.class, () -> send.consumed(Long.MIN_VALUE));
        send.consumed(30); // the same value again is fine
        assertEquals(54, send.credit());
    }

    @Test
    void consumedRejectsMovingPastProduced() throws Exception {
        SendCursor send = new SendCursor(64);
        assertThrows(RingProtocolException.class, () -> send.consumed(1), "nothing was sent yet");
        send.advance(40);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> send.consumed(41));
        assertTrue(e.getMessage().contains("41") && e.getMessage().contains("40"), e.getMessage());
        assertThrows(RingProtocolException.class, () -> send.consumed(Long.MAX_VALUE));
        assertEquals(24, send.credit(), "a rejected cursor changes nothing");
        send.consumed(40); // exactly produced is fine
        assertEquals(64, send.credit());
    }

    @Test
    void receiveCursorAcrossWrapAround() throws Exception {
        ReceiveCursor receive = new ReceiveCursor(16);
        assertEquals(16, receive.capacity());
        assertEquals(0, receive.readable());
        assertEquals(0, receive.contiguous());

        receive.produced(12);
        assertEquals(12, receive.readable());
        assertEquals(0, receive.position());
        assertEquals(12, receive.contiguous());

        receive.advance(10);
        assertEquals(10, receive.consumed());
        assertEquals(2, receive.readable());
        assertEquals(10, receive.position());
        assertEquals(2, receive.contiguous());

        receive.produced(26); // 10 read, 16 unread: the whole ring, wrapping
        assertEquals(16, receive.readable());
        assertEquals(6, receive.contiguous(), "only up to the end of the ring");
        receive.advance(6);
        assertEquals(0, receive.position());
        assertEquals(10, receive.contiguous());
        receive.advance(10);
        assertEquals(0, receive.readable());
        assertEquals(26, receive.consumed());
        assertEquals(10, receive.position());
    }

    @Test
    void producedRejectsGoingBackwards() throws Exception {
        ReceiveCursor receive = new ReceiveCursor(32);
        receive.produced(20);
        receive.advance(5);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> receive.produced(19));
        assertTrue(e.getMessage().contains("19"), e.getMessage());
        assertThrows(RingProtocolException.class, () -> receive.produced(-1));
        assertThrows(RingProtocolException.class, () -> receive.produced(Long.MIN_VALUE));
        assertEquals(15, receive.readable(), "a rejected cursor changes nothing");
        receive.produced(20);
        assertEquals(15, receive.readable());
    }

    @Test
    void producedRejectsMoreThanTheRingHoldsBeyondConsumed() throws Exception {
        ReceiveCursor receive = new ReceiveCursor(32);
        assertThrows(RingProtocolException.class, () -> receive.produced(33));
        receive.produced(32); // exactly full is fine
        assertEquals(32, receive.readable());
        receive.advance(7);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> receive.produced(40));
        assertTrue(e.getMessage().contains("40"), e.getMessage());
        assertThrows(RingProtocolException.class, () -> receive.produced(Long.MAX_VALUE));
        assertEquals(25, receive.readable(), "a rejected cursor changes nothing");
        receive.produced(39);
        assertEquals(32, receive.readable());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, -16, 3, 6, 100, 4095, 4097, 3 << 20, Integer.MAX_VALUE})
    void capacityMustBeAPowerOfTwo(int capacity) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new SendCursor(capacity));
        assertTrue(e.getMessage().contains(String.valueOf(capacity)), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ReceiveCursor(capacity));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4096, 1 << 20, 1 << 30})
    void powersOfTwoAreAccepted(int capacity) {
        assertEquals(capacity, assertDoesNotThrow(() -> new SendCursor(capacity)).credit());
        assertEquals(capacity, assertDoesNotThrow(() -> new ReceiveCursor(capacity)).capacity());
    }

    @Test
    void negativePowerOfTwoIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SendCursor(Integer.MIN_VALUE));
        assertThrows(IllegalArgumentException.class, () -> new ReceiveCursor(Integer.MIN_VALUE));
    }

    /**
     * A sender and a receiver joined by a model ring (a byte array) and a model "shared memory" of two
     * longs: random writes and reads, with cursors published in between at random. The receiver must
     * read exactly the byte sequence written, and neither side may exceed the ring.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 16, 4096})
    void randomizedSenderAndReceiverAgree(int capacity) throws Exception {
        SplittableRandom random = new SplittableRandom(0x5eed_0000L + capacity);
        SendCursor send = new SendCursor(capacity);
        ReceiveCursor receive = new ReceiveCursor(capacity);
        byte[] ring = new byte[capacity];
        long sharedProduced = 0;
        long sharedConsumed = 0;
        long written = 0;
        long read = 0;
        for (int step = 0; step < 100_000; step++) {
            switch (random.nextInt(4)) {
                case 0 -> { // write as much as credit allows of a random size, possibly in two chunks
                    send.consumed(sharedConsumed);
                    int credit = send.credit();
                    assertTrue(credit >= 0 && credit <= capacity, "credit " + credit);
                    assertEquals(capacity - (written - sharedConsumed), credit);
                    int want = random.nextInt(2 * capacity + 1);
                    int n = Math.min(want, credit);
                    int done = 0;
                    while (done < n) {
                        int position = send.position();
                        int chunk = Math.min(n - done, send.contiguous());
                        assertTrue(chunk > 0 && position + chunk <= capacity);
                        for (int i = 0; i < chunk; i++) {
                            ring[position + i] = pattern(written + done + i);
                        }
                        send.advance(chunk);
                        done += chunk;
                    }
                    written += n;
                    assertEquals(written, send.produced());
                }
                case 1 -> sharedProduced = send.produced(); // publish
                case 2 -> { // read a random amount of what is published
                    receive.produced(sharedProduced);
                    int readable = receive.readable();
                    assertEquals(sharedProduced - read, readable);
                    assertTrue(readable >= 0 && readable <= capacity, "readable " + readable);
                    int n = Math.min(random.nextInt(2 * capacity + 1), readable);
                    int done = 0;
                    while (done < n) {
                        int position = receive.position();
                        int chunk = Math.min(n - done, receive.contiguous());
                        assertTrue(chunk > 0 && position + chunk <= capacity);
                        for (int i = 0; i < chunk; i++) {
                            if (ring[position + i] != pattern(read + done + i)) {
                                throw new AssertionError("byte " + (read + done + i) + " differs at step " + step);
                            }
                        }
                        receive.advance(chunk);
                        done += chunk;
                    }
                    read += n;
                    assertEquals(read, receive.consumed());
                }
                default -> sharedConsumed = receive.consumed(); // return credit
            }
            assertTrue(written - read <= capacity, "more in flight than the ring holds at step " + step);
            assertTrue(read <= written);
        }
        // Drain: everything written arrives.
        sharedProduced = send.produced();
        receive.produced(sharedProduced);
        receive.advance(receive.readable());
        send.consumed(receive.consumed());
        assertEquals(written, receive.consumed());
        assertEquals(capacity, send.credit());
        assertTrue(written > 100_000L * capacity / 64, "the model actually moved data: " + written);
    }

    private static byte pattern(long index) {
        return (byte) (index * 0x9E37_79B9L >>> 13);
    }
}
