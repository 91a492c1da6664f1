package io.vsocket.link.shm;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.MappedRegion;
import io.vsocket.unix.MemFd;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hole ledger and the shm link under a peer that does what it likes.
 *
 * <p>{@link #ledger}: the {@link LoanLedger} driven as {@link ShmLink} drives it, by a reader that
 * lends, returns loans in any order and returns credit at any time, and a writer that steps over
 * every announced hole. Every announced hole must be one the writer's checks accept, and no byte the
 * writer writes may land on a stretch still on loan.
 *
 * <p>{@link #link}: both sides of one {@link ShmLink} in this process, plus a third mapping through
 * which the fuzzer writes any value into any field of the shared page (cursors, holes, flags) and
 * any bytes into the rings. The documented outcome of a broken peer is a {@link RingProtocolException}
 * (the side that sees one is done); anything else thrown is a finding. Until the first tampering,
 * nothing may fail and every byte must arrive as written.
 */
class ShmFuzzTest {
    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void ledger(FuzzedDataProvider data) {
        int capacity = 1 << data.consumeInt(4, 20);
        LoanLedger ledger = new LoanLedger(capacity);
        List<long[]> live = new ArrayList<>(); // id, start, length
        ArrayDeque<long[]> writerHoles = new ArrayDeque<>(); // announced, not yet stepped over by the writer
        ArrayDeque<long[]> readerHoles = new ArrayDeque<>(); // announced, not yet stepped over by the reader
        long[] writer = new long[3]; // produced, end of the last hole announced, holes announced
        long consumed = 0;
        long returned = 0;
        long retiredId = -1;
        while (data.remainingBytes() > 0) {
            long produced = writer[0];
            long nextHole = ledger.nextHoleStart();
            switch (data.consumeInt(0, 4)) {
                case 0 -> { // the writer: up to its limit and the next hole, or over the hole
                    long[] hole = writerHoles.peek();
                    if (hole != null && produced == hole[0]) {
                        if (hole[1] <= returned + capacity) {
                            writer[0] = hole[1];
                            writerHoles.poll();
                        }
                    } else {
                        long room = Math.min(returned + capacity, hole != null ? hole[0] : Long.MAX_VALUE) - produced;
                        long n = data.consumeLong(0, room);
                        for (long[] loan : live) {
                            assertFalse(overlapsLater(produced, produced + n, loan[1], loan[2], capacity),
                                    "the writer reaches bytes on loan: [" + produced + ", " + (produced + n)
                                            + ") over a loan of " + loan[2] + " at " + loan[1]);
                        }
                        writer[0] += n;
                    }
                }
                case 1 -> { // the reader: over a hole the writer passed, or data up to the next hole
                    if (consumed == nextHole && produced >= ledger.nextHoleEnd()) {
                        consumed = ledger.nextHoleEnd();
                        ledger.passHole();
                        readerHoles.poll();
                    } else {
                        consumed += data.consumeLong(0, Math.min(produced, nextHole) - consumed);
                    }
                }
                case 2 -> { // a loan at the read cursor, as ShmLink#lend sizes it
                    long run = Math.min(Math.min(produced, nextHole) - consumed, capacity - (consumed & capacity - 1));
                    int lendable = ledger.lendable((int) Math.min(run, capacity / 4));
                    assertTrue(lendable >= 0 && lendable <= run, "lendable " + lendable + " of a run of " + run);
                    if (lendable > 0) {
                        int n = data.consumeInt(1, lendable);
                        live.add(new long[] {ledger.add(consumed, n), consumed, n});
                        consumed += n;
                    }
                }
                case 3 -> { // a loan comes back (once)
                    if (!live.isEmpty()) {
                        long[] loan = live.remove(data.consumeInt(0, live.size() - 1));
                        assertTrue(ledger.retire(loan[0]), "a live loan was not live");
                        retiredId = loan[0];
                    }
                    assertFalse(ledger.retire(retiredId), "a loan came back twice");
                }
                default -> { // credit goes back, holes first
                    long limit = consumed + capacity;
                    int added = ledger.announceBefore(limit, (sequence, start, end) -> {
                        assertEquals(writer[2]++, sequence, "hole sequence");
                        // What ShmLink#takeHole accepts from its peer.
                        assertTrue(start >= writer[0] && start >= writer[1] && end > start && end - start <= capacity / 2,
                                "a hole the writer refuses: [" + start + ", " + end + ") with " + writer[0]
                                        + " written, the last hole ending at " + writer[1]);
                        assertTrue(start < limit, "a hole beyond the credit");
                        writer[1] = end;
                        writerHoles.add(new long[] {start, end});
                        readerHoles.add(new long[] {start, end});
                    });
                    assertTrue(added >= 0);
                    returned = consumed;
                }
            }
            assertTrue(live.size() <= LoanLedger.MAX_LOANS, live.size() + " loans");
            // The shared queue's bound: the holes pending, and the one each live loan without a hole
            // ahead may yet cost, fit its slots.
            long owed = live.stream().filter(loan -> readerHoles.stream().noneMatch(hole -> hole[0] > loan[1]
                    && (hole[0] - loan[1]) % capacity == 0 && hole[1] - hole[0] == loan[2])).count();
            assertTrue(ledger.pendingHoles() + owed <= LoanLedger.HOLE_SLOTS,
                    ledger.pendingHoles() + " holes, and " + owed + " loans without one");
            assertEquals(!live.isEmpty(), ledger.lending());
            assertEquals(readerHoles.size(), ledger.pendingHoles());
            assertEquals(readerHoles.isEmpty() ? Long.MAX_VALUE : readerHoles.peek()[0], ledger.nextHoleStart());
            long holeBytes = 0;
            for (long[] hole : readerHoles) {
                holeBytes += hole[0] < writer[0] ? hole[1] - hole[0] : 0;
            }
            assertEquals(holeBytes, ledger.holeBytesBefore(writer[0]), "hole bytes before the writer");
            assertTrue(consumed <= writer[0] && writer[0] <= returned + capacity, "cursors out of order");
        }
    }

    /** Whether {@code [from, to)} falls on the ring bytes of {@code [start, start + length)} in a later lap. */
    private static boolean overlapsLater(long from, long to, long start, long length, int capacity) {
        if (to <= from) {
            return false;
        }
        long lap = Math.max(1, Math.floorDiv(from - start - length, capacity) + 1);
        return start + lap * capacity < to;
    }

    private static final int CLIENT_RING = 4096;
    /** Offsets in the shared page, per ShmLink's layout comment. */
    private static final long[] FIELDS = fields();

    private static long[] fields() {
        List<Long> at = new ArrayList<>();
        for (long direction : new long[] {0, 256}) {
            for (long field = 0; field < 256; field += 64) {
                at.add(direction + field);
            }
            at.add(direction + 8); // restartedAt
            at.add(direction + 72); // takesRestarts
        }
        for (long side = 0; side < 2; side++) {
            at.add(512 + 64 * side);
            at.add(640 + 64 * side);
        }
        for (long holes : new long[] {1024, 2048}) {
            at.add(holes);
            at.add(holes + 8);
            for (long slot = 0; slot < LoanLedger.HOLE_SLOTS; slot++) {
                at.add(holes + 64 + 16 * slot);
                at.add(holes + 72 + 16 * slot);
            }
        }
        return at.stream().mapToLong(Long::longValue).toArray();
    }

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void link(FuzzedDataProvider data) throws Exception {
        int serverRing = 1 << data.consumeInt(12, 16);
        MappedRegion[] spied = new MappedRegion[1];
        InProcessShm.Sides both = InProcessShm.connect(CLIENT_RING, serverRing, memFd -> {
            try (MemFd mine = MemFd.adopt(FileDescriptors.duplicate(memFd))) {
                spied[0] = mine.map();
            }
        });
        MappedRegion spy = spied[0];
        ShmLink client = both.client();
        ShmLink server = both.server();
        server.lendOn(ImmediateEventExecutor.INSTANCE);
        ShmLink[] sides = {client, server};
        long[] sent = new long[2];
        long[] received = new long[2];
        List<ByteBuf> loans = new ArrayList<>();
        ByteBuf buf = Unpooled.directBuffer(serverRing);
        boolean tampered = false;
        boolean[] broken = new boolean[2];
        try {
            while (data.remainingBytes() > 0) {
                int op = data.consumeInt(0, 7);
                int side = data.consumeInt(0, 1);
                ShmLink link = sides[side];
                if (op == 7) {
                    MemorySegment shared = spy.segment();
                    if (data.consumeBoolean()) {
                        long at = FIELDS[data.consumeInt(0, FIELDS.length - 1)];
                        // Any value, or one near where it matters: the field's own, or a producer cursor.
                        long from = data.consumeBoolean() ? at : 256L * data.consumeInt(0, 1);
                        long near = shared.get(JAVA_LONG_UNALIGNED, from);
                        shared.set(JAVA_LONG_UNALIGNED, at, data.consumeBoolean() ? data.consumeLong()
                                : near + data.consumeLong(-2L * serverRing, 2L * serverRing));
                    } else {
                        byte[] bytes = data.consumeBytes(64);
                        long at = data.consumeLong(ShmLink.HEADER_SIZE, shared.byteSize() - bytes.length);
                        MemorySegment.copy(bytes, 0, shared, JAVA_BYTE, at, bytes.length);
                    }
                    tampered = true;
                    continue;
                }
                if (broken[side]) {
                    continue;
                }
                try {
                    switch (op) {
                        case 0 -> { // write, publish or not
                            int capacity = link.sendRingSize();
                            int credit = link.credit();
                            assertTrue(credit >= 0 && credit <= capacity, "credit " + credit + " of " + capacity);
                            int n = data.consumeInt(0, capacity);
                            buf.clear();
                            for (int i = 0; i < n; i++) {
                                buf.writeByte(pattern(side, sent[side] + i));
                            }
                            int w = link.write(buf, 0, n);
                            assertTrue(w >= 0 && w <= n && w <= capacity, "wrote " + w + " of " + n);
                            sent[side] += w;
                            if (data.consumeBoolean()) {
                                link.publish();
                            }
                        }
                        case 1 -> { // read
                            int readable = link.readable();
                            assertTrue(readable >= 0 && readable <= link.receiveRingSize(), "readable " + readable);
                            int max = data.consumeInt(0, link.receiveRingSize());
                            int r = link.read(buf, 0, max);
                            assertTrue(r >= 0 && r <= Math.min(max, readable), "read " + r + " of " + readable);
                            check(buf, r, 1 - side, received[side], tampered);
                            received[side] += r;
                        }
                        case 2 -> { // lend (the server side lends)
                            ByteBuf loan = side == 1 ? server.lend(ByteBufAllocator.DEFAULT) : null;
                            if (loan != null) {
                                int n = loan.readableBytes();
                                assertTrue(n >= ShmLink.LEND_MIN && n <= serverRing / 4, "a loan of " + n);
                                check(loan, n, 0, received[1], tampered);
                                received[1] += n;
                                loans.add(loan);
                            }
                        }
                        case 3 -> {
                            if (!loans.isEmpty()) {
                                loans.remove(data.consumeInt(0, loans.size() - 1)).release();
                            }
                        }
                        case 4 -> link.returnCreditNow();
                        case 5 -> {
                            link.park(data.consumeBoolean(), data.consumeBoolean(), data.consumeBoolean());
                            link.unpark();
                        }
                        default -> {
                            if (data.consumeBoolean()) {
                                link.releaseIdleRing();
                            } else {
                                link.discard();
                                received[side] = Long.MIN_VALUE; // nothing more to check on this side
                            }
                        }
                    }
                } catch (RingProtocolException e) {
                    assertTrue(tampered, "an honest peer broke the protocol: " + e.getMessage());
                    broken[side] = true;
                }
                assertEquals(loans.size(), server.loansOutstanding());
            }
        } finally {
            for (ByteBuf loan : loans) {
                loan.release();
            }
            buf.release();
            client.close();
            server.close();
            spy.close();
        }
    }

    private static byte pattern(int direction, long index) {
        return (byte) (index * 31 + (index >>> 9) + direction * 101);
    }

    /** The first {@code n} readable bytes of {@code buf} are the stream from {@code direction} at {@code from}. */
    private static void check(ByteBuf buf, int n, int direction, long from, boolean tampered) {
        if (tampered || from < 0) {
            return;
        }
        for (int i = 0; i < n; i++) {
            if (buf.getByte(buf.readerIndex() + i) != pattern(direction, from + i)) {
                throw new AssertionError("byte " + (from + i) + " of the stream from side " + direction + " is wrong");
            }
        }
    }
}
