package io.vsocket.testsuite.softroce;

import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionChannel;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.Mtu;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.SharedReceiveQueue;
import io.vsocket.verbs.VerbsDevice;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_REMOTE_READ;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_REMOTE_WRITE;

/**
 * Two RC queue pairs on rxe0 connected to each other over the loopback GID: {@code a} has its own
 * receive queue and completion queue {@code cqA}; {@code b} receives from a shared receive queue
 * and completes on {@code cqB}, which reports to {@code channel} when one is asked for. Each side has
 * a 64 KiB buffer registered for local write and remote read/write. Closing releases everything in
 * dependency order.
 */
final class RcPair implements AutoCloseable {
    static final int BUFFER = 64 * 1024;
    static final int ACCESS = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

    final Arena arena = Arena.ofShared();
    final VerbsDevice device;
    final ProtectionDomain pd;
    final CompletionChannel channel;
    final CompletionQueue cqA;
    final CompletionQueue cqB;
    final SharedReceiveQueue srq;
    final QueuePair a;
    final QueuePair b;
    final MemorySegment bufA;
    final MemorySegment bufB;
    final MemoryRegion mrA;
    final MemoryRegion mrB;
    final CompletionBatch batch = new CompletionBatch(4);
    final GidEntry gid;

    RcPair(boolean withChannel, boolean signalAllOnA) throws Exception {
        device = SoftRoce.open();
        pd = device.allocateProtectionDomain();
        channel = withChannel ? device.createCompletionChannel() : null;
        cqA = device.createCompletionQueue(64, null);
        cqB = device.createCompletionQueue(64, channel);
        srq = pd.createSharedReceiveQueue(64, 1);
        a = pd.createQueuePair(new QueuePairConfig(QpType.RC, cqA, cqA, null, 32, 32, 1, 1, 64, signalAllOnA));
        b = pd.createQueuePair(new QueuePairConfig(QpType.RC, cqB, cqB, srq, 32, 0, 1, 1, 64, true));
        bufA = arena.allocate(BUFFER, 4096);
        bufB = arena.allocate(BUFFER, 4096);
        mrA = pd.register(bufA, ACCESS);
        mrB = pd.register(bufB, ACCESS);

        gid = SoftRoce.ipv4Gid(device);
        Mtu mtu = device.queryPort(SoftRoce.PORT).activeMtu();
        AddressVector here = AddressVector.roce(gid.gid(), gid.index(), SoftRoce.PORT);
        int psnA = 0x1000;
        int psnB = 0x2000;
        a.initConnected(SoftRoce.PORT, ACCESS);
        b.initConnected(SoftRoce.PORT, ACCESS);
        a.readyToReceive(here, b.qpNumber(), psnB, mtu);
        b.readyToReceive(here, a.qpNumber(), psnA, mtu);
        a.readyToSend(psnA);
        b.readyToSend(psnB);
    }

    @Override
    public void close() throws Exception {
        a.close();
        b.close();
        srq.close();
        cqA.close();
        cqB.close();
        if (channel != null) {
            channel.close();
        }
        mrA.close();
        mrB.close();
        pd.close();
        device.close();
        batch.close();
        arena.close();
    }
}
