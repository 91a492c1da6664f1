package io.vsocket.microbench;

import io.vsocket.ffm.ibverbs.ibv_recv_wr;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.ffm.ibverbs.ibv_sge;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.Mtu;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;
import org.HdrHistogram.Histogram;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.*;

/**
 * A 64-byte ping-pong between two RC queue pairs on one device, through vsocket's Java verbs API:
 * each leg is one inline RDMA WRITE_WITH_IMM into the peer's buffer, received as a completion on a
 * pre-posted zero-length receive (the stream link's operation). One thread drives both ends, so a
 * round trip is two one-way trips plus both sides' polling. Prints p50/p99/max (HdrHistogram) and
 * the verbs calls per round trip.
 *
 * <p>Usage: {@code VerbsPingPong [device] [round trips]}; defaults: the first device, 20000.
 */
public final class VerbsPingPong {
    private static final int SIZE = 64;
    private static final int RECEIVES = 64;
    private static final int SIGNAL_EVERY = 32;
    private static final int ACCESS = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;

    private long posts;
    private long polls;

    public static void main(String[] args) throws Exception {
        if (!Verbs.isAvailable()) {
            System.out.println("RDMA verbs unavailable: " + Verbs.unavailabilityCause().getMessage());
            System.exit(2);
        }
        String name = args.length > 0 ? args[0] : Verbs.deviceNames().get(0);
        int roundTrips = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
        new VerbsPingPong().run(name, roundTrips);
    }

    /** One end: a QP, its CQ, its registered buffer, a reusable receive and a reusable send. */
    private final class End {
        final CompletionQueue cq;
        final QueuePair qp;
        final MemoryRegion mr;
        final MemorySegment recv;
        final MemorySegment send;
        final MemorySegment sge;
        int sent;

        End(VerbsDevice device, ProtectionDomain pd, Arena arena) throws VerbsException {
            cq = device.createCompletionQueue(2 * RECEIVES, null);
            qp = pd.createQueuePair(new QueuePairConfig(QpType.RC, cq, cq, null, 2 * SIGNAL_EVERY, RECEIVES, 1, 1, SIZE, false));
            mr = pd.register(arena.allocate(4096, 4096), ACCESS);
            recv = ibv_recv_wr.allocate(arena);
            send = ibv_send_wr.allocate(arena);
            sge = ibv_sge.allocate(arena);
            ibv_sge.addr(sge, mr.address());
            ibv_sge.length(sge, SIZE);
            ibv_sge.lkey(sge, mr.lkey());
        }

        void aimAt(End peer) {
            ibv_send_wr.opcode(send, IBV_WR_RDMA_WRITE_WITH_IMM);
            ibv_send_wr.sg_list(send, sge);
            ibv_send_wr.num_sge(send, 1);
            ibv_send_wr.wr_rdma_remote_addr(send, peer.mr.address() + 2048);
            ibv_send_wr.wr_rdma_rkey(send, peer.mr.rkey());
        }

        void post() throws VerbsException {
            int flags = IBV_SEND_INLINE;
            if (++sent % SIGNAL_EVERY == 0) {
                flags |= IBV_SEND_SIGNALED; // keeps the send queue from filling with unreaped requests
            }
            ibv_send_wr.send_flags(send, flags);
            ibv_send_wr.imm_data(send, Integer.reverseBytes(sent));
            qp.postSend(send);
            posts++;
        }

        /** Busy-polls until the peer's write arrives; reposts the consumed receive. */
        void awaitWrite(CompletionBatch batch) throws VerbsException {
            while (true) {
                polls++;
                int n = cq.poll(batch);
                boolean arrived = false;
                for (int i = 0; i < n; i++) {
                    batch.checkSuccess(i, "ping-pong");
                    if (batch.opcode(i) == IBV_WC_RECV_RDMA_WITH_IMM) {
                        arrived = true;
                    }
                }
                if (arrived) {
                    qp.postReceive(recv);
                    posts++;
                    return;
                }
            }
        }
    }

    private void run(String name, int roundTrips) throws Exception {
        try (VerbsDevice device = Verbs.openDevice(name);
             Arena arena = Arena.ofConfined();
             CompletionBatch batch = new CompletionBatch(16)) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            End a = new End(device, pd, arena);
            End b = new End(device, pd, arena);
            GidEntry gid = device.gidTable(1).stream().filter(g -> g.gid().isIpv4Mapped()).findFirst()
                    .orElse(device.gidTable(1).get(0));
            AddressVector route = AddressVector.roce(gid.gid(), gid.index(), 1);
            Mtu mtu = device.queryPort(1).activeMtu();
            a.qp.initConnected(1, ACCESS);
            b.qp.initConnected(1, ACCESS);
            a.qp.readyToReceive(route, b.qp.qpNumber(), 0, mtu);
            b.qp.readyToReceive(route, a.qp.qpNumber(), 0, mtu);
            a.qp.readyToSend(0);
            b.qp.readyToSend(0);
            a.aimAt(b);
            b.aimAt(a);
            for (int i = 0; i < RECEIVES; i++) {
                a.qp.postReceive(a.recv);
                b.qp.postReceive(b.recv);
            }

            Histogram histogram = new Histogram(3_600_000_000L, 3);
            int warmup = Math.max(1000, roundTrips / 10);
            for (int i = 0; i < warmup + roundTrips; i++) {
                if (i == warmup) {
                    posts = 0;
                    polls = 0;
                }
                long start = System.nanoTime();
                a.post();
                b.awaitWrite(batch);
                b.post();
                a.awaitWrite(batch);
                if (i >= warmup) {
                    histogram.recordValue(System.nanoTime() - start);
                }
            }
            System.out.printf("verbs RC ping-pong on %s: %d B inline WRITE_WITH_IMM, %d round trips%n",
                    name, SIZE, roundTrips);
            System.out.printf("  round trip p50 %.2f us, p99 %.2f us, max %.2f us%n",
                    histogram.getValueAtPercentile(50) / 1000.0, histogram.getValueAtPercentile(99) / 1000.0,
                    histogram.getMaxValue() / 1000.0);
            System.out.printf("  verbs calls per round trip: %.2f posts (send + receive), %.1f polls (busy-polling)%n",
                    (double) posts / roundTrips, (double) polls / roundTrips);
            a.qp.close();
            b.qp.close();
            a.cq.close();
            b.cq.close();
            a.mr.close();
            b.mr.close();
            pd.close();
        }
    }
}
