package io.vsocket.stream;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;

/**
 * Copies bytes into and out of a ring at its cursors, splitting at the ring's end. The ring is a
 * {@link ByteBuffer} view whose position and limit this class moves (one thread only); the
 * {@link ByteBuf}'s own indexes do not move.
 */
public final class RingCopy {
    private RingCopy() {
    }

    /** Copies {@code length} bytes of {@code src} from {@code index} to the ring at the send cursor and advances it. */
    public static void in(SendCursor cursor, ByteBuffer ring, ByteBuf src, int index, int length) {
        assert length <= cursor.credit();
        int done = 0;
        while (done < length) {
            int position = cursor.position();
            int chunk = Math.min(length - done, cursor.contiguous());
            ring.limit(position + chunk).position(position);
            src.getBytes(index + done, ring);
            cursor.advance(chunk);
            done += chunk;
        }
    }

    /** Copies {@code length} unread bytes at the receive cursor to {@code dst} at {@code index} and advances it. */
    public static void out(ReceiveCursor cursor, ByteBuffer ring, ByteBuf dst, int index, int length) {
        assert length <= cursor.readable();
        int done = 0;
        while (done < length) {
            int position = cursor.position();
            int chunk = Math.min(length - done, cursor.contiguous());
            ring.limit(position + chunk).position(position);
            dst.setBytes(index + done, ring);
            cursor.advance(chunk);
            done += chunk;
        }
    }
}
