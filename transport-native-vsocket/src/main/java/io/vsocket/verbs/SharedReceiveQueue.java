package io.vsocket.verbs;

import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;

/** A shared receive queue ({@code struct ibv_srq}): one pool of receive requests for many queue pairs. */
public final class SharedReceiveQueue extends VerbsResource {
    private final int capacity;
    private final MemorySegment badRequest = Arena.ofAuto().allocate(ADDRESS);

    SharedReceiveQueue(MemorySegment srq, int capacity) {
        super(srq);
        this.capacity = capacity;
    }

    public int capacity() {
        return capacity;
    }

    /** Posts a chain of {@code struct ibv_recv_wr} (linked through {@code next}) in one call. */
    public void postReceive(MemorySegment requests) throws VerbsException {
        int rc = Glue.vs_post_srq_recv(handle(), requests, badRequest);
        if (rc != 0) {
            throw new VerbsException("ibv_post_srq_recv", rc);
        }
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_destroy_srq", handle, Ibverbs::ibv_destroy_srq);
    }

    @Override
    public String toString() {
        return "SharedReceiveQueue(" + capacity + ")";
    }
}
