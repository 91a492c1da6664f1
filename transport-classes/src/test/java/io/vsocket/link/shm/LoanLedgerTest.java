package io.vsocket.link.shm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ledger's bounds, which the shared hole queue of {@link LoanLedger#HOLE_SLOTS} entries relies on. */
class LoanLedgerTest {
    private static final int RING = 256 * 1024;
    private static final int LOAN = ShmLink.LEND_MIN;

    /**
     * Found by {@code ShmFuzzTest#ledger}: holes plus live loans exceed the queue (the bound the
     * javadoc used to state), yet the queue itself never overflows and no loan is lent that could
     * overflow it.
     */
    @Test
    void holesOutliveTheirLoansAndTheQueueStillFits() {
        LoanLedger ledger = new LoanLedger(RING);
        LoanLedger.HoleSink sink = (sequence, start, end) -> { };
        long consumed = 0;
        long[] first = new long[LoanLedger.MAX_LOANS];
        for (int i = 0; i < first.length; i++) {
            assertEquals(LOAN, ledger.lendable(LOAN));
            first[i] = ledger.add(consumed, LOAN);
            consumed += LOAN;
        }
        assertEquals(0, ledger.lendable(LOAN), "the loan limit");
        assertEquals(16, ledger.announceBefore(consumed + RING, sink), "credit passes every loan: a hole each");
        for (long id : first) {
            assertTrue(ledger.retire(id));
        }
        for (int i = 0; i < LoanLedger.MAX_LOANS; i++) {
            assertEquals(LOAN, ledger.lendable(LOAN), "loan " + i + " beside 16 holes of loans gone");
            ledger.add(consumed, LOAN);
            consumed += LOAN;
        }
        assertEquals(16, ledger.announceBefore(consumed + RING, sink));
        assertEquals(LoanLedger.HOLE_SLOTS, ledger.pendingHoles(), "and 16 live loans besides");
        assertEquals(0, ledger.lendable(LOAN), "no slot left for another hole");
        // The reader at the first hole: the live loans' next laps are not due before it passes theirs.
        assertEquals(0, ledger.announceBefore(RING + RING, sink));
        assertEquals(RING, ledger.nextHoleStart());
    }
}
