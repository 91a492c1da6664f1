package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The messages a ring link's TCP connection (its control connection) carries, each {@value #SIZE}
 * bytes: a 4-byte magic, 4 bytes of zero, an 8-byte big-endian value. Until a side sends its
 * fail-over message nothing else goes that way, so its socket's buffer always takes a whole
 * message at once, and a reader reads no further than the message it is in.
 * <ul>
 *   <li>{@link #FAILOVER} ("vsfo", value: the length of the peer's stream as this side received it):
 *       everything after it is the stream itself (see {@link RingFailover});
 *   <li>{@link #PROBE} ("vspq", value: the sender's clock): the sender's ring requests have had no
 *       answer for a while; the peer answers at once with
 *   <li>{@link #ANSWER} ("vspa", the probe's value), unless it has sent its own fail-over message.
 *       A peer that answers over TCP while the ring's requests stay unanswered is alive and its loop
 *       running: the ring's path is what failed (see {@code RdmaLink}), so the sender fails over
 *       without waiting for the stall watch's longer bound.
 * </ul>
 */
final class ControlMessage {
    static final int SIZE = 16;
    /** "vsfo". */
    static final int FAILOVER = 0x7673_666f;
    /** "vspq". */
    static final int PROBE = 0x7673_7071;
    /** "vspa". */
    static final int ANSWER = 0x7673_7061;
    private static final ValueLayout.OfInt MAGIC = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong VALUE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private ControlMessage() {
    }

    /** Whether {@code bytes} (a message so far, fewer than 4 bytes allowed) can begin a control message. */
    static boolean startsLikeOne(ByteBuf bytes) {
        return startsLike(bytes, FAILOVER) || startsLike(bytes, PROBE) || startsLike(bytes, ANSWER);
    }

    /** Whether {@code bytes} agree with {@code magic} as far as they go. */
    static boolean startsLike(ByteBuf bytes, int magic) {
        for (int i = 0; i < Math.min(4, bytes.readableBytes()); i++) {
            if (bytes.getByte(bytes.readerIndex() + i) != (byte) (magic >>> 24 - 8 * i)) {
                return false;
            }
        }
        return true;
    }

    /** The magic of a whole message. */
    static int magic(ByteBuf message) {
        return message.getInt(message.readerIndex());
    }

    /** The value of a whole message, checking its zero bytes. */
    static long value(ByteBuf message) throws IOException {
        if (message.getInt(message.readerIndex() + 4) != 0) {
            throw new io.vsocket.stream.RingProtocolException("a control message whose bytes 4 to 7 are not zero");
        }
        return message.getLong(message.readerIndex() + 8);
    }

    /** Sends one message (through the scratch memory); throws unless all of it went. */
    static void send(NativeSocket socket, int magic, long value) throws IOException {
        MemorySegment scratch = Scratch.segment();
        scratch.set(MAGIC, 0, magic);
        scratch.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0);
        scratch.set(VALUE, 8, value);
        long n = socket.write(scratch.address(), SIZE);
        if (n != SIZE) {
            throw new IOException("could not send a " + SIZE + "-byte message on the control connection: " + n
                    + " bytes went out");
        }
    }
}
