package io.vsocket.testsuite.softroce;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_SIGNALED;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE_WITH_IMM;
import static io.vsocket.testsuite.softroce.SoftRoce.assertQuiet;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The stream link's pattern: several writes chained into one post, only the last one signalled
 * and carrying the immediate. One sender completion, one receiver completion, all data placed.
 */
@Tag("softroce")
class ChainedPostTest {

    @Test
    void aChainOfWritesIsOnePostWithOneSignalledCompletion() throws Exception {
        try (RcPair pair = new RcPair(false, false); Arena arena = Arena.ofConfined()) {
            Random random = new Random(7);
            byte[] data = new byte[3 * 4096];
            random.nextBytes(data);
            MemorySegment.copy(data, 0, pair.bufA, JAVA_BYTE, 0, data.length);
            pair.srq.postReceive(WorkRequests.receive(arena, 1, pair.mrB, 0, 0));

            MemorySegment[] writes = new MemorySegment[3];
            for (int i = 0; i < 3; i++) {
                boolean last = i == 2;
                writes[i] = WorkRequests.rdma(WorkRequests.send(arena, 100 + i,
                                last ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE, last ? IBV_SEND_SIGNALED : 0,
                                pair.mrA, i * 4096L, 4096),
                        pair.mrB.address() + i * 4096L, pair.mrB.rkey());
            }
            io.vsocket.ffm.ibverbs.ibv_send_wr.imm_data(writes[2], Integer.reverseBytes(data.length));
            pair.a.postSend(WorkRequests.chain(writes));

            awaitOne(pair.cqA, pair.batch);
            pair.batch.checkSuccess(0, "chained writes");
            assertEquals(102, pair.batch.wrId(0), "only the signalled request completes");
            awaitOne(pair.cqB, pair.batch);
            pair.batch.checkSuccess(0, "RECV_RDMA_WITH_IMM");
            assertEquals(data.length, pair.batch.immediate(0));
            assertArrayEquals(data, pair.bufB.asSlice(0, data.length).toArray(JAVA_BYTE));
            assertQuiet(pair.cqA, pair.batch);
        }
    }
}
