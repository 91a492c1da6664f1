package io.vsocket.testsuite.softroce;

import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.link.SharedArenaCloser;
import io.vsocket.link.rdma.RetiredRegions;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.MemoryWindow;
import io.vsocket.verbs.WcStatus;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_MW_BIND;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_REMOTE_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_SEND_SIGNALED;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WC_BIND_MW;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_RDMA_WRITE;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * Type 2 memory windows on rxe0, the way to give one connection, and no other, remote write access
 * to memory: a region registered for binding only (no remote access of its own), a window bound to
 * it through queue pair b's send queue. Writes arriving on b (from its peer a) through the window's
 * key land; the same key on a write arriving on another queue pair of the same protection domain,
 * and the region's own key, are refused with a remote access error.
 */
@Tag("softroce")
class MemoryWindowTest {
    private static final int LENGTH = 4096;

    /** Binds a window over {@code region} through {@code pair.b}; returns its key. */
    private static int bindOnB(RcPair pair, Arena arena, MemoryWindow window, MemoryRegion region) throws Exception {
        MemorySegment bind = ibv_send_wr.allocate(arena);
        bind.fill((byte) 0);
        ibv_send_wr.wr_id(bind, 41);
        ibv_send_wr.send_flags(bind, IBV_SEND_SIGNALED);
        int rkey = window.prepareBind(bind, region, region.address(), LENGTH, IBV_ACCESS_REMOTE_WRITE);
        pair.b.postSend(bind);
        awaitOne(pair.cqB, pair.batch);
        pair.batch.checkSuccess(0, "BIND_MW");
        assertEquals(IBV_WC_BIND_MW, pair.batch.opcode(0));
        return rkey;
    }

    @Test
    void aWindowGrantsWritesOnItsOwnQueuePairAlone() throws Exception {
        try (RcPair pair = new RcPair(false, true); Arena arena = Arena.ofConfined()) {
            MemorySegment target = pair.arena.allocate(LENGTH, 4096);
            try (MemoryRegion region = pair.pd.register(target, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
                 MemoryWindow window = pair.pd.allocateMemoryWindow()) {
                int before = window.rkey();
                int rkey = bindOnB(pair, arena, window, region);
                assertNotEquals(before, rkey, "a bind gives the window a fresh key");

                for (int i = 0; i < 64; i++) {
                    pair.bufA.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i + 1));
                }
                pair.a.postSend(WorkRequests.rdma(WorkRequests.send(arena, 42, IBV_WR_RDMA_WRITE, IBV_SEND_SIGNALED,
                        pair.mrA, 0, 64), target.address(), rkey));
                awaitOne(pair.cqA, pair.batch);
                pair.batch.checkSuccess(0, "RDMA WRITE through the window");
                for (int i = 0; i < 64; i++) {
                    assertEquals((byte) (i + 1), target.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i));
                }
            }
        }
    }

    @Test
    void theWindowsKeyOnAnotherQueuePairIsRefused() throws Exception {
        try (RcPair pair = new RcPair(false, true); Arena arena = Arena.ofConfined()) {
            MemorySegment target = pair.arena.allocate(LENGTH, 4096);
            try (MemoryRegion region = pair.pd.register(target, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
                 MemoryWindow window = pair.pd.allocateMemoryWindow()) {
                int rkey = bindOnB(pair, arena, window, region);
                // b writes, so the request arrives on a: same protection domain, not the window's queue pair.
                pair.b.postSend(WorkRequests.rdma(WorkRequests.send(arena, 43, IBV_WR_RDMA_WRITE, IBV_SEND_SIGNALED,
                        pair.mrB, 0, 64), target.address(), rkey));
                awaitOne(pair.cqB, pair.batch);
                assertEquals(WcStatus.REM_ACCESS_ERR.code(), pair.batch.status(0),
                        () -> "status " + WcStatus.nameOf(pair.batch.status(0)));
            }
        }
    }

    @Test
    void aRegionForBindingOnlyRefusesItsOwnKey() throws Exception {
        try (RcPair pair = new RcPair(false, true); Arena arena = Arena.ofConfined()) {
            MemorySegment target = pair.arena.allocate(LENGTH, 4096);
            try (MemoryRegion region = pair.pd.register(target, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND)) {
                pair.a.postSend(WorkRequests.rdma(WorkRequests.send(arena, 44, IBV_WR_RDMA_WRITE, IBV_SEND_SIGNALED,
                        pair.mrA, 0, 64), target.address(), region.rkey()));
                awaitOne(pair.cqA, pair.batch);
                assertEquals(WcStatus.REM_ACCESS_ERR.code(), pair.batch.status(0),
                        () -> "status " + WcStatus.nameOf(pair.batch.status(0)));
            }
        }
    }

    /**
     * A region with a window still bound to it cannot be deregistered (the device refuses while the
     * window exists): the region is kept open with its memory, and goes once the window has gone.
     * This is what a closed rdma link meets when the kernel still holds its region for a moment.
     */
    @Test
    void aRegionTheDeviceWillNotDeregisterYetWaitsWithItsMemoryAndGoesLater() throws Exception {
        try (RcPair pair = new RcPair(false, true); Arena arena = Arena.ofConfined()) {
            Arena ringArena = Arena.ofShared();
            MemorySegment ring = ringArena.allocate(LENGTH, 4096);
            MemoryRegion region = pair.pd.register(ring, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
            MemoryWindow window = pair.pd.allocateMemoryWindow();
            RetiredRegions retired = new RetiredRegions();
            try {
                bindOnB(pair, arena, window, region);
                retired.release(ringArena, region);
                assertEquals(1, retired.waiting(), "a region with a bound window waits");
                assertTrue(region.isOpen(), "the refused region stays open");
                assertTrue(ring.scope().isAlive(), "its memory stays allocated while it is registered");
                assertFalse(retired.retry(), "still refused while the window exists");

                window.close();
                assertTrue(retired.retry(), "deregistered once the window is gone");
                assertEquals(0, retired.waiting());
                assertFalse(region.isOpen());
                // The memory goes after the region, off the releasing thread (see SharedArenaCloser).
                assertTrue(SharedArenaCloser.settle(5000), "its memory handed over is freed");
                assertFalse(ring.scope().isAlive(), "and its memory freed");
            } finally {
                window.close();
                region.close();
                if (ring.scope().isAlive()) {
                    ringArena.close();
                }
            }
        }
    }
}
