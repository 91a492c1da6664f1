package io.vsocket.testsuite.softroce;

import io.vsocket.ffm.ibverbs.ibv_grh;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.verbs.AddressHandle;
import io.vsocket.verbs.AddressVector;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.QpState;
import io.vsocket.verbs.QpType;
import io.vsocket.verbs.QueuePair;
import io.vsocket.verbs.QueuePairConfig;
import io.vsocket.verbs.VerbsDevice;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_ACCESS_LOCAL_WRITE;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WC_GRH;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WC_RECV;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_SEND;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UD datagrams over rxe0: a send through an address handle, received behind its 40-byte GRH. */
@Tag("softroce")
class UdQueuePairTest {
    private static final int QKEY = 0x11111111;
    private static final int GRH = (int) ibv_grh.sizeof();

    @Test
    void datagramArrivesBehindAGlobalRouteHeader() throws Exception {
        try (VerbsDevice device = SoftRoce.open(); Arena arena = Arena.ofConfined()) {
            ProtectionDomain pd = device.allocateProtectionDomain();
            CompletionQueue sendCq = device.createCompletionQueue(16, null);
            CompletionQueue recvCq = device.createCompletionQueue(16, null);
            QueuePair sender = pd.createQueuePair(QueuePairConfig.of(QpType.UD, sendCq, 16, 64));
            QueuePair receiver = pd.createQueuePair(QueuePairConfig.of(QpType.UD, recvCq, 16, 64));
            MemorySegment buffer = arena.allocate(8192, 4096);
            MemoryRegion mr = pd.register(buffer, IBV_ACCESS_LOCAL_WRITE);
            GidEntry gid = SoftRoce.ipv4Gid(device);
            AddressHandle ah = pd.createAddressHandle(AddressVector.roce(gid.gid(), gid.index(), SoftRoce.PORT));
            CompletionBatch batch = new CompletionBatch(4);
            try {
                sender.activateDatagram(SoftRoce.PORT, QKEY, 0x100);
                receiver.activateDatagram(SoftRoce.PORT, QKEY, 0x200);
                assertEquals(QpState.RTS, receiver.state());

                int payload = 1000;
                receiver.postReceive(WorkRequests.receive(arena, 9001, mr, 4096, GRH + payload));
                byte[] sent = new byte[payload];
                new Random(3).nextBytes(sent);
                MemorySegment.copy(sent, 0, buffer, JAVA_BYTE, 0, payload);
                MemorySegment wr = WorkRequests.send(arena, 9002, IBV_WR_SEND, 0, mr, 0, payload);
                ibv_send_wr.wr_ud_ah(wr, ah.handle());
                ibv_send_wr.wr_ud_remote_qpn(wr, receiver.qpNumber());
                ibv_send_wr.wr_ud_remote_qkey(wr, QKEY);
                sender.postSend(wr);

                awaitOne(sendCq, batch);
                batch.checkSuccess(0, "UD SEND");
                awaitOne(recvCq, batch);
                batch.checkSuccess(0, "UD RECV");
                assertEquals(9001, batch.wrId(0));
                assertEquals(IBV_WC_RECV, batch.opcode(0));
                assertEquals(GRH + payload, batch.byteLength(0));
                assertTrue((batch.flags(0) & IBV_WC_GRH) != 0, "GRH present");
                assertEquals(sender.qpNumber(), batch.sourceQpNumber(0));
                assertArrayEquals(sent, buffer.asSlice(4096 + GRH, payload).toArray(JAVA_BYTE));
                // RoCE v2 puts the IPv4 header in the last 20 bytes of the GRH slot, so the
                // sender's address is there, not a GID.
                byte[] ip = buffer.asSlice(4096 + GRH - 20, 20).toArray(JAVA_BYTE);
                byte[] src = java.util.Arrays.copyOfRange(ip, 12, 16);
                assertEquals(gid.gid(), Gid.of(java.net.InetAddress.getByAddress(src)), "source address in the GRH");
            } finally {
                batch.close();
                ah.close();
                sender.close();
                receiver.close();
                sendCq.close();
                recvCq.close();
                mr.close();
                pd.close();
            }
        }
    }
}
