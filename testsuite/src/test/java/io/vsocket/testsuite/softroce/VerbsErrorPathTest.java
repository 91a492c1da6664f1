package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.CompletionException;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.QpState;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;
import io.vsocket.verbs.WcStatus;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_SEND;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Misuse and failures give the documented exception, never a crash. */
@Tag("softroce")
class VerbsErrorPathTest {

    @Test
    void aBadTransitionNamesTheCallTheStatesAndTheErrno() throws Exception {
        try (VerbsDevice device = SoftRoce.open()) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            CompletionQueue cq = device.createCompletionQueue(8, null);
            QueuePair qp = pd.createQueuePair(QueuePairConfig.of(QpType.RC, cq, 8, 0));
            try {
                VerbsException e = assertThrows(VerbsException.class, () -> qp.readyToSend(1));
                assertTrue(e.getMessage().startsWith("ibv_modify_qp(RC QP 0x"), e.getMessage());
                assertTrue(e.getMessage().contains(": RESET -> RTS) failed: Invalid argument (errno 22)"), e.getMessage());
                assertEquals(22, e.errno());
                assertEquals(QpState.RESET, qp.state(), "a refused transition changes nothing");
            } finally {
                qp.close();
                cq.close();
                pd.close();
            }
        }
    }

    @Test
    void postingOnADestroyedQueuePairIsRefusedInJava() throws Exception {
        try (VerbsDevice device = SoftRoce.open(); Arena arena = Arena.ofConfined()) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            CompletionQueue cq = device.createCompletionQueue(8, null);
            QueuePair qp = pd.createQueuePair(QueuePairConfig.of(QpType.RC, cq, 8, 0));
            MemorySegment buffer = arena.allocate(4096);
            MemoryRegion mr = pd.register(buffer, IBV_ACCESS_LOCAL_WRITE);
            String name = qp.toString();
            qp.close();
            assertFalse(qp.isOpen());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> qp.postSend(WorkRequests.send(arena, 1, IBV_WR_SEND, 0, mr, 0, 16)));
            assertEquals(name + " is closed", e.getMessage());
            assertThrows(IllegalStateException.class, qp::state);
            mr.close();
            cq.close();
            pd.close();
        }
    }

    @Test
    void deregisteringAMemoryRegionTwiceReleasesItOnce() throws Exception {
        try (VerbsDevice device = SoftRoce.open(); Arena arena = Arena.ofConfined()) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            MemorySegment buffer = arena.allocate(4096);
            MemoryRegion mr = pd.register(buffer, IBV_ACCESS_LOCAL_WRITE);
            mr.close();
            mr.close(); // idempotent: ibv_dereg_mr is not called again
            IllegalStateException e = assertThrows(IllegalStateException.class, mr::lkey);
            assertTrue(e.getMessage().endsWith(" is closed"), e.getMessage());
            // The pd has no region left, so it can go: proof the first close really deregistered.
            pd.close();
        }
    }

    @Test
    void closingAProtectionDomainInUseFailsAndKeepsItOpen() throws Exception {
        try (VerbsDevice device = SoftRoce.open(); Arena arena = Arena.ofConfined()) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            MemoryRegion mr = pd.register(arena.allocate(4096), IBV_ACCESS_LOCAL_WRITE);
            VerbsException e = assertThrows(VerbsException.class, pd::close);
            assertEquals("ibv_dealloc_pd failed: Device or resource busy (errno 16)", e.getMessage());
            assertTrue(pd.isOpen());
            mr.close();
            pd.close();
            assertFalse(pd.isOpen());
        }
    }

    @Test
    void aWriteWithABadKeyCompletesWithRemoteAccessErrorAndFlushesTheRest() throws Exception {
        try (RcPair pair = new RcPair(false, true); Arena arena = Arena.ofConfined()) {
            pair.a.postSend(WorkRequests.rdma(WorkRequests.send(arena, 1, IBV_WR_RDMA_WRITE, 0, pair.mrA, 0, 512),
                    pair.mrB.address(), pair.mrB.rkey() ^ 0x5a5a00));
            awaitOne(pair.cqA, pair.batch);
            assertEquals(WcStatus.REM_ACCESS_ERR.code(), pair.batch.status(0));
            CompletionException e = assertThrows(CompletionException.class, () -> pair.batch.checkSuccess(0, "RDMA WRITE"));
            assertTrue(e.getMessage().startsWith("RDMA WRITE completed with IBV_WC_REM_ACCESS_ERR"), e.getMessage());
            assertEquals(QpState.ERR, pair.a.state());

            pair.a.postSend(WorkRequests.send(arena, 2, IBV_WR_SEND, 0, pair.mrA, 0, 16));
            awaitOne(pair.cqA, pair.batch);
            assertEquals(2, pair.batch.wrId(0));
            assertEquals(WcStatus.WR_FLUSH_ERR.code(), pair.batch.status(0));
        }
    }

    @Test
    void everyDescriptorIsReleasedOnClose() throws Exception {
        SoftRoce.requireDevice();
        long before = SoftRoce.openFileDescriptors();
        try (RcPair pair = new RcPair(true, true)) {
            assertTrue(SoftRoce.openFileDescriptors() > before, "the device and channel hold descriptors");
        }
        assertEquals(before, SoftRoce.openFileDescriptors());
    }
}
