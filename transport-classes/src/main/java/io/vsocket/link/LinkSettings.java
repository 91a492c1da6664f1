package io.vsocket.link;

import io.netty.channel.ChannelConfig;

import java.util.List;

/**
 * What a link and the hello read of their channel's options: Netty's (the write spin count, the
 * allocator) and vsocket's. The stream channel's config is one.
 */
public interface LinkSettings extends ChannelConfig {
    int MIN_RING_SIZE = 4096;
    int MAX_RING_SIZE = 64 << 20;

    /** The links this side allows, best first. */
    List<VSocketLink> getLinks();

    /**
     * The size of this side's receive ring on {@code link} (shm or rdma), in bytes: the ring size set
     * for the channel, else that link's default.
     */
    int getRingSize(VSocketLink link);

    /** How long the hello waits for the peer's next message. */
    int getHelloTimeoutMillis();

    /** Whether received bytes may be handed over as they lie in the link's memory. */
    boolean isReceiveInPlace();

    /** Whether {@code size} can be a ring's: a power of two from {@link #MIN_RING_SIZE} to {@link #MAX_RING_SIZE}. */
    static boolean isRingSize(long size) {
        return size >= MIN_RING_SIZE && size <= MAX_RING_SIZE && Long.bitCount(size) == 1;
    }

    /** Checks a ring size (this side's, or one a peer announced): a power of two within the bounds. */
    static int validateRingSize(int size) {
        if (!isRingSize(size)) {
            throw new IllegalArgumentException("ring size must be a power of two from " + MIN_RING_SIZE + " to "
                    + MAX_RING_SIZE + ": " + size);
        }
        return size;
    }
}
