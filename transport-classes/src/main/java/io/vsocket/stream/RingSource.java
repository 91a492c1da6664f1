package io.vsocket.stream;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Bytes a {@link StreamLink} writes into the peer's ring that are not in a {@code ByteBuf}: a
 * file read straight into the ring ({@code FileChannel.read(stretch, position)}, one kernel copy),
 * or the buffers a {@code FileRegion} hands to its target. The link calls {@link #fill} once per
 * contiguous stretch of ring memory that credit allows.
 */
@FunctionalInterface
public interface RingSource {
    /**
     * Puts up to {@code stretch.remaining()} bytes into {@code stretch} from its position on
     * (moving the position or not, as it likes): the count, 0 when it has nothing now. The stretch
     * is ring memory: write nothing outside {@code [position, limit)} and keep no reference to it.
     * Fewer bytes than there is room for end the link's write (what earlier stretches took stays
     * written). Throws when the source fails.
     */
    int fill(ByteBuffer stretch) throws IOException;
}
