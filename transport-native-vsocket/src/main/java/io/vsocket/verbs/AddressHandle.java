package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.Ibverbs;

import java.lang.foreign.MemorySegment;

/** An address handle ({@code struct ibv_ah}): a cached route for UD sends. */
public final class AddressHandle extends VerbsResource {
    private final AddressVector destination;

    AddressHandle(MemorySegment ah, AddressVector destination) {
        super(ah);
        this.destination = destination;
    }

    public AddressVector destination() {
        return destination;
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_destroy_ah", handle, Ibverbs::ibv_destroy_ah);
    }

    @Override
    public String toString() {
        return "AddressHandle(" + destination.destinationGid() + ")";
    }
}
