package io.vsocket.link.shm;

/**
 * The receiver's account of the ring stretches it has lent to the pipeline ({@link RingLoan}) and
 * of the holes it has announced to the writer so that those stretches are not written over.
 *
 * <p>Credit is a cursor: returning it past a stretch that is still on loan lets the writer, one lap
 * later, reach that stretch's bytes. So before credit reaches {@code nextLap} of a live loan, the
 * receiver announces {@code [nextLap, nextLap + length)} as a hole: stream positions that carry no
 * data, which the writer skips and the receiver steps over. A loan held for long costs its length
 * per lap of the ring, never a stall: the stream flows around it.
 *
 * <p>Bounds: at most half the ring lent at once (the writer always keeps the other half), and
 * announced holes not yet stepped over, plus one for each live loan without a hole ahead yet, never
 * exceed {@link #HOLE_SLOTS}: a live loan has at most one announced hole ahead (its next lap's comes
 * only once the reader has passed that one), so the shared queue of that many entries never
 * overflows. Holes plus live loans may exceed it: a hole outlives its loan, and a loan is lent
 * only while holes plus loans leave a slot for its own hole. Event-loop thread only.
 */
final class LoanLedger {
    /** Entries of the shared hole queue per direction. */
    static final int HOLE_SLOTS = 32;
    /** Live loans at most. */
    static final int MAX_LOANS = 16;

    private final int capacity;
    // Live loans by number, oldest first. Not the buffers themselves: a buffer dropped without a
    // release must stay collectable, so that its cleaner gives its stretch back.
    private final long[] liveId = new long[MAX_LOANS];
    private final int[] liveLength = new int[MAX_LOANS];
    /** Per live loan, the next stream position that falls on its bytes one lap on. */
    private final long[] liveNextLap = new long[MAX_LOANS];
    private int liveCount;
    private int lentBytes;
    private long nextId; // never wraps: a loan held for good must not share its number with a later one

    // Announced holes the receiver has not stepped over yet, oldest first (a ring of HOLE_SLOTS).
    private final long[] holeStart = new long[HOLE_SLOTS];
    private final long[] holeEnd = new long[HOLE_SLOTS];
    private int holeHead;
    private int holeCount;
    private long announced;

    LoanLedger(int capacity) {
        this.capacity = capacity;
    }

    /** Bytes that may be lent now, at most {@code run}: 0 when nothing may. */
    int lendable(int run) {
        if (liveCount == MAX_LOANS || holeCount + liveCount + 1 > HOLE_SLOTS) {
            return 0;
        }
        return Math.min(run, capacity / 2 - lentBytes);
    }

    /** Records a loan of {@code length} bytes from stream position {@code start}; returns its number. */
    long add(long start, int length) {
        long id = nextId++;
        liveId[liveCount] = id;
        liveLength[liveCount] = length;
        liveNextLap[liveCount] = start + capacity;
        liveCount++;
        lentBytes += length;
        return id;
    }

    /** The loan came back: its stretch needs no more holes. False if it was not live. */
    boolean retire(long id) {
        for (int i = 0; i < liveCount; i++) {
            if (liveId[i] == id) {
                lentBytes -= liveLength[i];
                int after = liveCount - i - 1;
                System.arraycopy(liveId, i + 1, liveId, i, after);
                System.arraycopy(liveLength, i + 1, liveLength, i, after);
                System.arraycopy(liveNextLap, i + 1, liveNextLap, i, after);
                liveCount--;
                return true;
            }
        }
        return false;
    }

    boolean lending() {
        return liveCount > 0;
    }

    /** Holes announced in all. */
    long announced() {
        return announced;
    }

    /**
     * Announces a hole for every live loan whose next lap falls before {@code limit} (the writer's
     * limit once credit is returned): appended to the pending holes in stream order, each passed to
     * {@code sink} with its sequence number, for the shared queue. Returns how many.
     */
    int announceBefore(long limit, HoleSink sink) {
        int added = 0;
        for (int i = 0; i < liveCount; i++) {
            while (liveNextLap[i] < limit) {
                insert(liveNextLap[i], liveNextLap[i] + liveLength[i], added++);
                liveNextLap[i] += capacity;
            }
        }
        for (int k = holeCount - added; k < holeCount; k++) {
            int slot = (holeHead + k) % HOLE_SLOTS;
            sink.hole(announced++, holeStart[slot], holeEnd[slot]);
        }
        return added;
    }

    /** Appends a hole, keeping this round's new ones ({@code added} so far) sorted by start. */
    private void insert(long start, long end, int added) {
        if (holeCount == HOLE_SLOTS) {
            throw new IllegalStateException("hole queue overflow: " + holeCount + " pending, " + liveCount + " loans");
        }
        int k = holeCount;
        while (k > holeCount - added && holeStart[(holeHead + k - 1) % HOLE_SLOTS] > start) {
            int from = (holeHead + k - 1) % HOLE_SLOTS;
            int to = (holeHead + k) % HOLE_SLOTS;
            holeStart[to] = holeStart[from];
            holeEnd[to] = holeEnd[from];
            k--;
        }
        int at = (holeHead + k) % HOLE_SLOTS;
        holeStart[at] = start;
        holeEnd[at] = end;
        holeCount++;
    }

    /** Start of the oldest hole not yet stepped over, or {@link Long#MAX_VALUE}. */
    long nextHoleStart() {
        return holeCount == 0 ? Long.MAX_VALUE : holeStart[holeHead];
    }

    long nextHoleEnd() {
        return holeEnd[holeHead];
    }

    /** The receiver stepped over the oldest hole. */
    void passHole() {
        holeHead = (holeHead + 1) % HOLE_SLOTS;
        holeCount--;
    }

    /**
     * Bytes of the pending holes that lie before {@code position}, the writer's cursor; -1 if the
     * cursor stopped inside one (a writer passes a hole whole, or breaks the protocol).
     */
    long holeBytesBefore(long position) {
        long bytes = 0;
        for (int k = 0; k < holeCount; k++) {
            int slot = (holeHead + k) % HOLE_SLOTS;
            if (holeStart[slot] >= position) {
                break;
            }
            if (holeEnd[slot] > position) {
                return -1;
            }
            bytes += holeEnd[slot] - holeStart[slot];
        }
        return bytes;
    }

    int pendingHoles() {
        return holeCount;
    }

    /** Where announced holes go: the shared queue the writer reads. */
    interface HoleSink {
        void hole(long sequence, long start, long end);
    }
}
