package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.link.shm.ShmConnectionLink;
import io.vsocket.link.shm.ShmLink;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;

/**
 * A test's way into a vsocket channel's shm link, by reflection (test code only; the transport has
 * no such door): the link object, the shared mapping it reads and writes, and where its receive ring
 * lies in that mapping. The mapping's segment belongs to the link's {@code MappedRegion}: once the
 * link unmaps it, every access through it throws {@link IllegalStateException} instead of touching
 * an unmapped page.
 */
final class ShmInternals {
    private ShmInternals() {
    }

    /** The channel's shm link: set once the hello picked shm (from {@code channelActive} on), null once closed. */
    static ShmLink link(Channel channel) {
        Object path = read(VSocketSocketChannel.class, "path", channel);
        Object link = read(path.getClass(), "link", path);
        if (!(link instanceof ShmConnectionLink) || (boolean) read(RingConnectionLink.class, "closed", link)) {
            return null;
        }
        return (ShmLink) read(ShmConnectionLink.class, "shm", link);
    }

    /** The channel's ring link's ring (shm or rdma), null where its link is tcp. Read it on the channel's loop. */
    static io.vsocket.stream.StreamLink ring(Channel channel) {
        Object path = read(VSocketSocketChannel.class, "path", channel);
        Object link = read(path.getClass(), "link", path);
        return link instanceof RingConnectionLink ? (io.vsocket.stream.StreamLink) read(RingConnectionLink.class, "ring", link)
                : null;
    }

    /** The whole shared mapping: the 4 KiB control page, then the client-to-server ring, then the other. */
    static MemorySegment memory(ShmLink link) {
        return (MemorySegment) read(ShmLink.class, "memory", link);
    }

    /** Where the link's own receive ring starts in {@link #memory}. */
    static long receiveRingOffset(ShmLink link) {
        return (long) read(ShmLink.class, "rxRingOffset", link);
    }

    /** Rings the doorbell of {@code link}'s peer, as the link does when it publishes to a parked peer. */
    static void ringPeer(ShmLink link) {
        link.signalPeer();
    }

    private static Object read(Class<?> type, String name, Object target) {
        try {
            Field field = type.getDeclaredField(name);
            field.setAccessible(true);
            return field.get(target);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the test reaches " + type.getSimpleName() + "." + name
                    + " by reflection: was it renamed?", e);
        }
    }
}
