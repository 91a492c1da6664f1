package io.vsocket.stream;

/**
 * The receiver's view of its own ring: how far the peer says it has written ({@code produced}) and
 * how far this side has read ({@code consumed}). A peer that claims to have written more than the
 * ring holds, or moves its cursor back, broke the protocol.
 */
public final class ReceiveCursor {
    private final int capacity;
    private final int mask;
    private long produced;
    private long consumed;

    public ReceiveCursor(int capacity) {
        this.capacity = SendCursor.checkCapacity(capacity);
        this.mask = capacity - 1;
    }

    public int capacity() {
        return capacity;
    }

    public long consumed() {
        return consumed;
    }

    /** Bytes written by the peer and not yet read. */
    public int readable() {
        return (int) (produced - consumed);
    }

    /** Where the next unread byte is. */
    public int position() {
        return (int) (consumed & mask);
    }

    /** Unread bytes from {@link #position()} before the ring wraps. */
    public int contiguous() {
        return Math.min(readable(), capacity - position());
    }

    public void advance(int bytes) {
        assert bytes >= 0 && bytes <= readable();
        consumed += bytes;
    }

    /**
     * The peer left the rest of this lap unwritten (see {@link SendCursor#restartLap()}): with every
     * byte read, both cursors go to the ring's start one lap on. Returns that position.
     */
    public long restartLap() {
        if (readable() != 0 || position() == 0) {
            throw new IllegalStateException("a lap restarts only with every byte read, mid-lap: " + consumed + " read, "
                    + produced + " written, ring of " + capacity);
        }
        consumed += capacity - position();
        produced = consumed;
        return consumed;
    }

    /** The peer published its producer cursor. */
    public void produced(long peerProduced) throws RingProtocolException {
        if (peerProduced == produced) {
            return;
        }
        if (peerProduced < produced || peerProduced - consumed > capacity) {
            throw new RingProtocolException("peer wrote past its credit: producer cursor " + peerProduced
                    + " after " + produced + ", " + consumed + " read, ring of " + capacity + " bytes");
        }
        produced = peerProduced;
    }
}
