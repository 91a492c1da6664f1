package io.vsocket.testsuite.softroce;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.link.rdma.RdmaLink;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.WcStatus;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.zip.CRC32;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_SIGNALED;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE_WITH_IMM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The rdma link's ring protocol over rxe0: two links on one context, connected over the loopback
 * GID, streaming through small rings (wrap-around, credit exhaustion and return), and a peer that
 * claims more bytes than its credit allows is cut off.
 */
@Tag("softroce")
class RdmaLinkTest {
    private static final int RING = 16 * 1024;

    static RdmaContext open() throws Exception {
        try (VerbsDevice device = SoftRoce.open()) {
            return RdmaContext.open(SoftRoce.DEVICE, SoftRoce.PORT, SoftRoce.ipv4Gid(device));
        }
    }

    /**
     * Connects {@code a} first and {@code b} second, as a server and a client do; {@code a} may write
     * once {@code b}'s first message (sent on connecting) has arrived.
     */
    static void connect(RdmaContext context, RdmaLink a, RdmaLink b) throws Exception {
        RdmaEndpoint ea = a.local();
        RdmaEndpoint eb = b.local();
        a.connect(eb, false);
        assertEquals(0, a.credit(), "the first side waits for the peer's word before it writes");
        b.connect(ea, true);
        assertTrue(b.credit() > 0, "the second side writes at once");
        long deadline = System.nanoTime() + SoftRoce.POLL_TIMEOUT_NANOS;
        while (a.credit() == 0) {
            if (System.nanoTime() > deadline) {
                fail("the peer's first message never arrived");
            }
            context.poll();
        }
    }

    @Test
    void bytesCrossTheRingIntactThroughWrapAroundAndCredit() throws Exception {
        try (RdmaContext context = open()) {
            RdmaLink a = context.newLink(RING);
            RdmaLink b = context.newLink(RING);
            connect(context, a, b);
            SplittableRandom random = new SplittableRandom(3);
            long total = 1L << 20;
            ByteBuf src = Unpooled.directBuffer(8192);
            ByteBuf dst = Unpooled.directBuffer(8192);
            CRC32 sent = new CRC32();
            CRC32 received = new CRC32();
            long written = 0;
            long read = 0;
            int creditStalls = 0;
            long deadline = System.nanoTime() + SoftRoce.POLL_TIMEOUT_NANOS * 3;
            while (read < total) {
                if (System.nanoTime() > deadline) {
                    fail("stalled at " + read + " of " + total + " bytes read, " + written + " written");
                }
                // The writer writes until it runs out of credit (or data), the reader reads one piece per
                // turn: the ring fills, and the writer waits for credit many times.
                while (written < total) {
                    int want = (int) Math.min(total - written, random.nextInt(1, 8193));
                    src.clear();
                    for (int i = 0; i < want; i++) {
                        src.writeByte((int) ((written + i) * 31 % 251));
                    }
                    int n = a.write(src, 0, want);
                    sent.update(src.nioBuffer(0, n));
                    written += n;
                    if (n < want) {
                        creditStalls++;
                        // What did not fit is written again, from the same stream position, next turn.
                        break;
                    }
                }
                a.publish();
                context.poll();
                assertEquals(null, a.failure());
                assertEquals(null, b.failure());
                int r = b.readable();
                if (r > 0) {
                    int n = b.read(dst, 0, Math.min(r, dst.capacity()));
                    received.update(dst.nioBuffer(0, n));
                    read += n;
                } else {
                    b.returnCreditNow();
                }
            }
            assertEquals(sent.getValue(), received.getValue(), "the stream arrived intact");
            // Closing drains the flush completions of what was posted (bounded), then destroys.
            a.close();
            b.close();
            assertTrue(creditStalls > 0, "the writer ran out of credit at least once (the ring is " + RING + " bytes)");
            assertTrue(total > 16L * RING, "the ring wrapped many times");
            src.release();
            dst.release();
        }
    }

    @Test
    void aWriterStopsWhenTheRingIsFullAndGoesOnWhenCreditReturns() throws Exception {
        try (RdmaContext context = open()) {
            RdmaLink a = context.newLink(RING);
            RdmaLink b = context.newLink(RING);
            connect(context, a, b);
            ByteBuf src = Unpooled.directBuffer(2 * RING).writeZero(2 * RING);
            ByteBuf dst = Unpooled.directBuffer(RING);
            assertEquals(RING, a.write(src, 0, 2 * RING), "only as much as the peer's ring holds");
            assertEquals(0, a.credit());
            a.publish();
            awaitReadable(context, b, RING);
            assertEquals(RING / 2, b.read(dst, 0, RING / 2));
            assertTrue(b.returnCreditNow());
            long deadline = System.nanoTime() + SoftRoce.POLL_TIMEOUT_NANOS;
            while (a.credit() < RING / 2 && System.nanoTime() < deadline) {
                context.poll();
            }
            assertEquals(RING / 2, a.credit(), "the credit came back over the link");
            src.release();
            dst.release();
        }
    }

    /**
     * A peer that is not a vsocket link at all (a raw queue pair on a second device context) sends a
     * WRITE_WITH_IMM whose immediate claims more bytes than the ring holds: the link is cut off with
     * an error naming it, instead of reading past its ring.
     */
    @Test
    void aPeerThatClaimsMoreThanItsCreditIsCutOff() throws Exception {
        assertCutOff(RING + 1, "past its credit"); // "RING + 1 bytes of data"
    }

    /**
     * The same raw peer returns credit for bytes this side never sent: believing it would let the
     * writer overwrite staged bytes before they go out, so the link is cut off.
     */
    @Test
    void aPeerThatReturnsCreditForBytesNeverSentIsCutOff() throws Exception {
        assertCutOff(0x8000_0000 | 100, "only 0 were sent"); // bit 31: credit, for 100 bytes
    }

    /**
     * Every connection of the process shares the device's protection domain, so a ring must not be
     * open to a peer of another connection that learns its key: a raw peer connected to one link
     * writes into a second link's ring with the second link's advertised key and is refused; the
     * second ring stays untouched, and writes through its own connection's key still land.
     */
    @Test
    void aPeerOfOneConnectionCannotWriteIntoAnothersRing() throws Exception {
        try (RdmaContext context = open(); VerbsDevice rawDevice = SoftRoce.open();
             Arena arena = Arena.ofConfined()) {
            RdmaLink honest = context.newLink(RING);
            RdmaLink other = context.newLink(RING);
            RdmaEndpoint honestEnd = honest.local();
            RdmaEndpoint otherEnd = other.local();
            GidEntry gid = SoftRoce.ipv4Gid(rawDevice);
            try (ProtectionDomain pd = rawDevice.allocateProtectionDomain();
                 CompletionQueue cq = rawDevice.createCompletionQueue(16, null);
                 QueuePair raw = pd.createQueuePair(QueuePairConfig.of(QpType.RC, cq, 8, 0));
                 CompletionBatch batch = new CompletionBatch(4)) {
                int rawPsn = 0x4343;
                raw.initConnected(SoftRoce.PORT, IBV_ACCESS_LOCAL_WRITE);
                raw.readyToReceive(AddressVector.roce(honestEnd.gid(), gid.index(), SoftRoce.PORT), honestEnd.qpNumber(),
                        honestEnd.psn(), rawDevice.queryPort(SoftRoce.PORT).activeMtu());
                raw.readyToSend(rawPsn);
                RdmaEndpoint rawEnd = new RdmaEndpoint(gid.gid(), gid.index(), raw.qpNumber(), rawPsn, 0, 0, RING,
                        rawDevice.queryPort(SoftRoce.PORT).activeMtu().bytes());
                honest.connect(rawEnd, false);
                other.connect(rawEnd, false); // its window is bound through its own queue pair

                // Real bytes: a zero-length write checks no key at all.
                MemorySegment bytes = arena.allocate(64, 64);
                bytes.fill((byte) 0x5a);
                try (MemoryRegion source = pd.register(bytes, IBV_ACCESS_LOCAL_WRITE)) {
                    MemorySegment wr = WorkRequests.rdma(WorkRequests.send(arena, 1, IBV_WR_RDMA_WRITE_WITH_IMM,
                            IBV_SEND_SIGNALED, source, 0, 16), otherEnd.ringAddress(), otherEnd.rkey());
                    ibv_send_wr.imm_data(wr, Integer.reverseBytes(16));
                    raw.postSend(wr);
                    SoftRoce.awaitOne(cq, batch);
                }
                assertEquals(WcStatus.REM_ACCESS_ERR.code(), batch.status(0),
                        () -> "a write into another connection's ring: " + WcStatus.nameOf(batch.status(0)));
                for (int i = 0; i < 10; i++) {
                    context.poll();
                }
                assertEquals(0, other.readable(), "nothing reached the other ring");
                honest.close();
                other.close();
            }
        }
    }

    private static void assertCutOff(int immediate, String expected) throws Exception {
        try (RdmaContext context = open(); VerbsDevice rawDevice = SoftRoce.open();
             Arena arena = Arena.ofConfined()) {
            RdmaLink honest = context.newLink(RING);
            RdmaEndpoint honestEnd = honest.local();
            GidEntry gid = SoftRoce.ipv4Gid(rawDevice);
            try (ProtectionDomain pd = rawDevice.allocateProtectionDomain();
                 CompletionQueue cq = rawDevice.createCompletionQueue(16, null);
                 QueuePair raw = pd.createQueuePair(QueuePairConfig.of(QpType.RC, cq, 8, 0))) {
                int rawPsn = 0x4242;
                raw.initConnected(SoftRoce.PORT, IBV_ACCESS_LOCAL_WRITE);
                raw.readyToReceive(AddressVector.roce(honestEnd.gid(), gid.index(), SoftRoce.PORT), honestEnd.qpNumber(),
                        honestEnd.psn(), rawDevice.queryPort(SoftRoce.PORT).activeMtu());
                raw.readyToSend(rawPsn);
                honest.connect(new RdmaEndpoint(gid.gid(), gid.index(), raw.qpNumber(), rawPsn, 0, 0, RING,
                        rawDevice.queryPort(SoftRoce.PORT).activeMtu().bytes()), false);

                MemorySegment wr = WorkRequests.rdma(WorkRequests.send(arena, 1, IBV_WR_RDMA_WRITE_WITH_IMM,
                        IBV_SEND_SIGNALED, null, 0, 0), honestEnd.ringAddress(), honestEnd.rkey());
                ibv_send_wr.imm_data(wr, Integer.reverseBytes(immediate));
                raw.postSend(wr);

                long deadline = System.nanoTime() + SoftRoce.POLL_TIMEOUT_NANOS;
                while (honest.failure() == null && System.nanoTime() < deadline) {
                    context.poll();
                }
                assertNotNull(honest.failure(), "the receiver notices");
                assertInstanceOf(RingProtocolException.class, honest.failure());
                assertTrue(honest.failure().getMessage().contains(expected), honest.failure().getMessage());
                assertEquals(0, honest.readable(), "nothing of the impossible claim is readable");
                honest.close();
            }
        }
    }

    private static void awaitReadable(RdmaContext context, RdmaLink link, int bytes) throws Exception {
        long deadline = System.nanoTime() + SoftRoce.POLL_TIMEOUT_NANOS;
        while (link.readable() < bytes) {
            if (System.nanoTime() > deadline) {
                fail("only " + link.readable() + " of " + bytes + " bytes arrived");
            }
            context.poll();
        }
    }
}
