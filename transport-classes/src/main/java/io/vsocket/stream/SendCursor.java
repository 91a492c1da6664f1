package io.vsocket.stream;

/**
 * The sender's view of the peer's receive ring: how far it has written ({@code produced}, a byte
 * count since the connection began, never wrapping) and how far the peer says it has read
 * ({@code consumed}, the credit it returned). It may write {@code capacity - (produced - consumed)}
 * more bytes. Every link uses this arithmetic; only how bytes and cursors travel differs.
 */
public final class SendCursor {
    private final int capacity;
    private final int mask;
    private long produced;
    private long consumed;

    public SendCursor(int capacity) {
        this.capacity = checkCapacity(capacity);
        this.mask = capacity - 1;
    }

    /** A ring's capacity must be a positive power of two (positions are cursors masked by it). */
    static int checkCapacity(int capacity) {
        if (capacity <= 0 || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("ring capacity must be a power of two: " + capacity);
        }
        return capacity;
    }

    public int capacity() {
        return capacity;
    }

    public long produced() {
        return produced;
    }

    /** Bytes the sender may still write. */
    public int credit() {
        return (int) (capacity - (produced - consumed));
    }

    /** Where the next byte goes in the ring. */
    public int position() {
        return (int) (produced & mask);
    }

    /** Bytes that fit from {@link #position()} before the ring wraps. */
    public int contiguous() {
        return capacity - position();
    }

    public void advance(int bytes) {
        assert bytes >= 0 && bytes <= credit();
        produced += bytes;
    }

    /**
     * Leaves the rest of this lap unwritten and goes on at the ring's start, in an empty ring (every
     * byte credited) whose cursor is mid-lap: the skipped stretch counts as read, so the whole ring is
     * credit again. Only for a reader that skips such a stretch unread (the shm link's lap restart).
     * Returns where the skipped stretch began.
     */
    public long restartLap() {
        if (credit() != capacity || position() == 0) {
            throw new IllegalStateException("a lap restarts only in an empty ring, mid-lap: " + produced + " written, "
                    + consumed + " credited, ring of " + capacity);
        }
        long at = produced;
        produced += contiguous();
        consumed = produced;
        return at;
    }

    /** The peer returned credit up to {@code peerConsumed}; it can only move forward, never past what was sent. */
    public void consumed(long peerConsumed) throws RingProtocolException {
        if (peerConsumed == consumed) {
            return;
        }
        if (peerConsumed < consumed || peerConsumed > produced) {
            throw new RingProtocolException("peer returned impossible credit: consumed cursor " + peerConsumed
                    + " after " + consumed + " with " + produced + " bytes sent");
        }
        consumed = peerConsumed;
    }
}
