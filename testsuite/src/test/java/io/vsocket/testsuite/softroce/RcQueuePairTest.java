package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.QpState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.vsocket.ffm.ibverbs.Ibverbs.*;
import static io.vsocket.testsuite.softroce.SoftRoce.assertQuiet;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RC queue pairs over rxe0 through the Java API: every operation the stream link is built from. */
@Tag("softroce")
class RcQueuePairTest {
    private static RcPair pair;
    private final Random random = new Random(42);

    @BeforeAll
    static void connect() throws Exception {
        pair = new RcPair(false, true);
        assertEquals(QpState.RTS, pair.a.state());
        assertEquals(QpState.RTS, pair.b.state());
    }

    @AfterAll
    static void disconnect() throws Exception {
        if (pair != null) {
            pair.close();
        }
    }

    private byte[] fill(MemorySegment buffer, long offset, int length) {
        byte[] data = new byte[length];
        random.nextBytes(data);
        MemorySegment.copy(data, 0, buffer, JAVA_BYTE, offset, length);
        return data;
    }

    private static byte[] read(MemorySegment buffer, long offset, int length) {
        return buffer.asSlice(offset, length).toArray(JAVA_BYTE);
    }

    @Test
    void sendIsReceivedThroughTheSharedReceiveQueue() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            pair.srq.postReceive(WorkRequests.receive(arena, 7001, pair.mrB, 0, 4096));
            byte[] sent = fill(pair.bufA, 0, 3000);
            pair.a.postSend(WorkRequests.send(arena, 7002, IBV_WR_SEND, 0, pair.mrA, 0, 3000));

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "SEND");
            assertEquals(7002, pair.batch.wrId(0));
            assertEquals(IBV_WC_SEND, pair.batch.opcode(0));

            awaitOne(pair.cqB, pair.batch);
            pair.batch.checkSuccess(0, "RECV");
            assertEquals(7001, pair.batch.wrId(0));
            assertEquals(IBV_WC_RECV, pair.batch.opcode(0));
            assertEquals(3000, pair.batch.byteLength(0));
            assertEquals(pair.b.qpNumber(), pair.batch.qpNumber(0));
            assertArrayEquals(sent, read(pair.bufB, 0, 3000));
        }
    }

    @Test
    void inlineSendCopiesThePayloadAtPostTime() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(pair.a.maxInlineData() >= 32, "inline capacity " + pair.a.maxInlineData());
            pair.srq.postReceive(WorkRequests.receive(arena, 7101, pair.mrB, 8192, 256));
            byte[] sent = fill(pair.bufA, 8192, 32);
            pair.a.postSend(WorkRequests.send(arena, 7102, IBV_WR_SEND, IBV_SEND_INLINE, pair.mrA, 8192, 32));
            fill(pair.bufA, 8192, 32); // overwritten after the post: the inline copy must not see it

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "inline SEND");
            awaitOne(pair.cqB, pair.batch);
            pair.batch.checkSuccess(0, "RECV");
            assertEquals(32, pair.batch.byteLength(0));
            assertArrayEquals(sent, read(pair.bufB, 8192, 32));
        }
    }

    @Test
    void rdmaWritePlacesDataWithoutAReceiverCompletion() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] sent = fill(pair.bufA, 16384, 10000);
            pair.a.postSend(WorkRequests.rdma(WorkRequests.send(arena, 7201, IBV_WR_RDMA_WRITE, 0, pair.mrA, 16384, 10000),
                    pair.mrB.address() + 20000, pair.mrB.rkey()));

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "RDMA WRITE");
            assertEquals(IBV_WC_RDMA_WRITE, pair.batch.opcode(0));
            assertArrayEquals(sent, read(pair.bufB, 20000, 10000));
            assertQuiet(pair.cqB, pair.batch);
        }
    }

    @Test
    void writeWithImmediateDeliversTheImmediateInHostOrder() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            // WRITE_WITH_IMM consumes a receive request; it needs no buffer.
            pair.srq.postReceive(WorkRequests.receive(arena, 7301, pair.mrB, 0, 0));
            byte[] sent = fill(pair.bufA, 32768, 1500);
            MemorySegment wr = WorkRequests.rdma(
                    WorkRequests.send(arena, 7302, IBV_WR_RDMA_WRITE_WITH_IMM, 0, pair.mrA, 32768, 1500),
                    pair.mrB.address() + 40000, pair.mrB.rkey());
            io.vsocket.ffm.ibverbs.ibv_send_wr.imm_data(wr, Integer.reverseBytes(0x12345678)); // network order
            pair.a.postSend(wr);

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "WRITE_WITH_IMM");
            awaitOne(pair.cqB, pair.batch);
            pair.batch.checkSuccess(0, "RECV_RDMA_WITH_IMM");
            assertEquals(7301, pair.batch.wrId(0));
            assertEquals(IBV_WC_RECV_RDMA_WITH_IMM, pair.batch.opcode(0));
            assertTrue((pair.batch.flags(0) & IBV_WC_WITH_IMM) != 0);
            assertEquals(0x12345678, pair.batch.immediate(0));
            assertEquals(1500, pair.batch.byteLength(0));
            assertArrayEquals(sent, read(pair.bufB, 40000, 1500));
        }
    }

    @Test
    void rdmaReadFetchesRemoteMemory() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] remote = fill(pair.bufB, 50000, 6000);
            pair.a.postSend(WorkRequests.rdma(WorkRequests.send(arena, 7401, IBV_WR_RDMA_READ, 0, pair.mrA, 50000, 6000),
                    pair.mrB.address() + 50000, pair.mrB.rkey()));

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "RDMA READ");
            assertEquals(IBV_WC_RDMA_READ, pair.batch.opcode(0));
            assertEquals(6000, pair.batch.byteLength(0));
            assertArrayEquals(remote, read(pair.bufA, 50000, 6000));
        }
    }
}
