package io.vsocket.testsuite.softroce;

import io.vsocket.ffm.ibverbs.ibv_recv_wr;
import io.vsocket.ffm.ibverbs.ibv_send_wr;
import io.vsocket.ffm.ibverbs.ibv_sge;
import io.vsocket.verbs.MemoryRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Builds verbs work requests in native memory through the struct bindings, as the transport will. */
final class WorkRequests {
    private WorkRequests() {
    }

    static MemorySegment sge(Arena arena, MemoryRegion mr, long offset, int length) {
        MemorySegment sge = ibv_sge.allocate(arena);
        ibv_sge.addr(sge, mr.address() + offset);
        ibv_sge.length(sge, length);
        ibv_sge.lkey(sge, mr.lkey());
        return sge;
    }

    /** A send request over {@code length} bytes at {@code offset} of {@code mr} ({@code length} 0: no data). */
    static MemorySegment send(Arena arena, long wrId, int opcode, int flags, MemoryRegion mr, long offset, int length) {
        MemorySegment wr = ibv_send_wr.allocate(arena);
        ibv_send_wr.wr_id(wr, wrId);
        ibv_send_wr.opcode(wr, opcode);
        ibv_send_wr.send_flags(wr, flags);
        if (length > 0) {
            ibv_send_wr.sg_list(wr, sge(arena, mr, offset, length));
            ibv_send_wr.num_sge(wr, 1);
        }
        return wr;
    }

    /** A one-sided request: the remote side of an RDMA WRITE or READ. */
    static MemorySegment rdma(MemorySegment wr, long remoteAddress, int rkey) {
        ibv_send_wr.wr_rdma_remote_addr(wr, remoteAddress);
        ibv_send_wr.wr_rdma_rkey(wr, rkey);
        return wr;
    }

    static MemorySegment receive(Arena arena, long wrId, MemoryRegion mr, long offset, int length) {
        MemorySegment wr = ibv_recv_wr.allocate(arena);
        ibv_recv_wr.wr_id(wr, wrId);
        if (length > 0) {
            ibv_recv_wr.sg_list(wr, sge(arena, mr, offset, length));
            ibv_recv_wr.num_sge(wr, 1);
        }
        return wr;
    }

    /** Links {@code requests} through their {@code next} fields, for one post. */
    static MemorySegment chain(MemorySegment... requests) {
        for (int i = 0; i + 1 < requests.length; i++) {
            ibv_send_wr.next(requests[i], requests[i + 1]);
        }
        return requests[0];
    }
}
