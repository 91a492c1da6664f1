package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_mr;

import java.lang.foreign.MemorySegment;

/**
 * Registered memory ({@code struct ibv_mr}). The keys are read once at registration; the memory
 * itself stays owned by whoever allocated it and must outlive this region.
 */
public final class MemoryRegion extends VerbsResource {
    private final MemorySegment memory;
    private final int lkey;
    private final int rkey;

    MemoryRegion(MemorySegment mr, MemorySegment memory) {
        super(mr);
        MemorySegment view = mr.reinterpret(ibv_mr.sizeof());
        this.memory = memory;
        this.lkey = ibv_mr.lkey(view);
        this.rkey = ibv_mr.rkey(view);
    }

    /** The registered memory. */
    public MemorySegment memory() {
        handle();
        return memory;
    }

    public long address() {
        handle();
        return memory.address();
    }

    public long length() {
        return memory.byteSize();
    }

    /** The key local work requests name this memory by. */
    public int lkey() {
        handle();
        return lkey;
    }

    /** The key a peer's RDMA READ or WRITE names this memory by (useful only with remote access). */
    public int rkey() {
        handle();
        return rkey;
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_dereg_mr", handle, Ibverbs::ibv_dereg_mr);
    }

    @Override
    public String toString() {
        return "MemoryRegion(0x" + Long.toHexString(memory.address()) + ", " + memory.byteSize() + " bytes)";
    }
}
