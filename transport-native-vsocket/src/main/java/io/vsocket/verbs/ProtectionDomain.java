package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_ah_attr;
import io.vsocket.ffm.ibverbs.ibv_qp_cap;
import io.vsocket.ffm.ibverbs.ibv_qp_init_attr;
import io.vsocket.ffm.ibverbs.ibv_srq_attr;
import io.vsocket.ffm.ibverbs.ibv_srq_init_attr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;


/**
 * A protection domain ({@code struct ibv_pd}): memory regions, queue pairs, shared receive queues
 * and address handles made from it can only be used together.
 */
public final class ProtectionDomain extends VerbsResource {
    private final VerbsDevice device;

    ProtectionDomain(MemorySegment pd, VerbsDevice device) {
        super(pd);
        this.device = device;
    }

    public VerbsDevice device() {
        return device;
    }

    /**
     * Registers {@code memory} (a native segment) with the access flags given
     * ({@code Ibverbs.IBV_ACCESS_*}); remote access is granted only where the flags say so.
     */
    public MemoryRegion register(MemorySegment memory, int access) throws VerbsException {
        if (!memory.isNative()) {
            throw new IllegalArgumentException("only native memory can be registered");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment mr = VerbsException.checkPointer("ibv_reg_mr(" + memory.byteSize() + " bytes)",
                    Glue.vs_reg_mr(errno, handle(), memory, memory.byteSize(), access), errno);
            return new MemoryRegion(mr, memory);
        }
    }

    /** A type 2 memory window in this domain (see {@link MemoryWindow}). */
    public MemoryWindow allocateMemoryWindow() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment mw = VerbsException.checkPointer("ibv_alloc_mw(type 2)",
                    Glue.vs_alloc_mw(errno, handle(), Ibverbs.IBV_MW_TYPE_2), errno);
            return new MemoryWindow(mw);
        }
    }

    /** Creates a queue pair as {@code config} says; it starts in RESET. */
    public QueuePair createQueuePair(QueuePairConfig config) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment init = ibv_qp_init_attr.allocate(arena);
            ibv_qp_init_attr.send_cq(init, config.sendQueue().handle());
            ibv_qp_init_attr.recv_cq(init, config.receiveQueue().handle());
            ibv_qp_init_attr.srq(init, config.sharedReceiveQueue() == null
                    ? MemorySegment.NULL : config.sharedReceiveQueue().handle());
            MemorySegment cap = ibv_qp_init_attr.cap(init);
            ibv_qp_cap.max_send_wr(cap, config.maxSendRequests());
            ibv_qp_cap.max_recv_wr(cap, config.maxReceiveRequests());
            ibv_qp_cap.max_send_sge(cap, config.maxSendSge());
            ibv_qp_cap.max_recv_sge(cap, config.maxReceiveSge());
            ibv_qp_cap.max_inline_data(cap, config.maxInlineData());
            ibv_qp_init_attr.qp_type(init, config.type().code());
            ibv_qp_init_attr.sq_sig_all(init, config.signalAll() ? 1 : 0);
            MemorySegment qp = VerbsException.checkPointer("ibv_create_qp(" + config.type() + ")",
                    Ibverbs.ibv_create_qp(errno, handle(), init), errno);
            // ibv_create_qp writes back the capacities it actually granted.
            return new QueuePair(qp, config.type(), ibv_qp_cap.max_send_wr(cap), ibv_qp_cap.max_inline_data(cap));
        }
    }

    /** Creates a shared receive queue of {@code maxRequests} receive requests of {@code maxSge} elements each. */
    public SharedReceiveQueue createSharedReceiveQueue(int maxRequests, int maxSge) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment init = ibv_srq_init_attr.allocate(arena);
            MemorySegment attr = ibv_srq_init_attr.attr(init);
            ibv_srq_attr.max_wr(attr, maxRequests);
            ibv_srq_attr.max_sge(attr, maxSge);
            MemorySegment srq = VerbsException.checkPointer("ibv_create_srq(" + maxRequests + ")",
                    Ibverbs.ibv_create_srq(errno, handle(), init), errno);
            return new SharedReceiveQueue(srq, ibv_srq_attr.max_wr(attr));
        }
    }

    /** Creates an address handle for sending UD datagrams to {@code destination}. */
    public AddressHandle createAddressHandle(AddressVector destination) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment ah = ibv_ah_attr.allocate(arena);
            destination.writeTo(ah);
            MemorySegment handle = VerbsException.checkPointer("ibv_create_ah(" + destination + ")",
                    Ibverbs.ibv_create_ah(errno, handle(), ah), errno);
            return new AddressHandle(handle, destination);
        }
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_dealloc_pd", handle, Ibverbs::ibv_dealloc_pd);
    }

    @Override
    public String toString() {
        return "ProtectionDomain(" + device.name() + ")";
    }
}
