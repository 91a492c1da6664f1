package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.ibverbs.Ibverbs;

import java.lang.foreign.Arena;
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
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            VerbsException.check("ibv_destroy_ah", Ibverbs.ibv_destroy_ah(errno, handle), errno);
        }
    }

    @Override
    public String toString() {
        return "AddressHandle(" + destination.destinationGid() + ")";
    }
}
