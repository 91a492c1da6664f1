package io.vsocket.stream;

import io.netty.buffer.ByteBuf;

import java.io.IOException;

/**
 * A link that carries a stream with the ring protocol: the channel writes into the peer's ring as
 * far as credit goes and publishes, reads from its own ring (credit goes back as it reads), and
 * learns the peer's end of output from the link. The shm link and the rdma link are two; the
 * channel does not know which it drives, except for how it is woken (doorbell or completion queue).
 * One thread only.
 */
public interface StreamLink extends AutoCloseable {
    /** Bytes this side may write now. */
    int credit() throws IOException;

    /** Copies up to {@code length} bytes of {@code buf} from {@code index} as credit allows (not yet published); returns the count. */
    int write(ByteBuf buf, int index, int length) throws IOException;

    /**
     * Fills up to {@code length} bytes of the peer's ring (on rdma: of the registered staging ring
     * that mirrors it) from {@code source}, one contiguous stretch at a time as credit allows (not
     * yet published): the count. Stops early when the source fills a stretch short. No bytes pass
     * through a buffer of the link's own: a file is read straight into ring memory.
     */
    int write(RingSource source, int length) throws IOException;

    /** Hands everything written so far to the peer. */
    void publish() throws IOException;

    /** Unread bytes in this side's ring. */
    int readable() throws IOException;

    /** Copies up to {@code max} unread bytes into {@code dst} at {@code index} (its indexes do not move); returns the count. */
    int read(ByteBuf dst, int index, int max) throws IOException;

    /** Drops every unread byte (the input was shut down) and returns their space as credit. */
    void discard() throws IOException;

    /** The peer will write no more: what is in the ring is all there is. */
    boolean peerOutputDone();

    /** This side will write no more (after what it published). */
    void markOutputDone() throws IOException;

    /** Why the link broke (a failed completion, a peer that broke the protocol), or null. */
    IOException failure();

    /**
     * Whether this link can hand its connection over to tcp when its own path fails (see
     * {@code RingConnectionLink}): it knows which of its bytes the peer received and keeps the others.
     */
    default boolean failsOver() {
        return false;
    }

    /**
     * Stops the link for a fail-over: nothing more arrives in this side's ring, nothing more is
     * written. Returns the end of the peer's stream as this side received it (a byte count since
     * the connection began).
     */
    default long stopForFailover() {
        throw new UnsupportedOperationException(this + " does not fail over");
    }

    /** After the stop: the received bytes not yet read, up to {@code end}, copied out. */
    default ByteBuf unread(long end) {
        throw new UnsupportedOperationException(this + " does not fail over");
    }

    /**
     * After the stop: this side's bytes from {@code from} (where the peer's received stream ends) to
     * the last written, copied out to be sent again. Throws when {@code from} is impossible.
     */
    default ByteBuf unreceived(long from) throws RingProtocolException {
        throw new UnsupportedOperationException(this + " does not fail over");
    }

    /**
     * True once per quiet spell in which the link's requests have had no answer for a while (then
     * its owner asks the peer over the control connection whether it is still there); false where
     * the link cannot tell.
     */
    default boolean takeProbeWanted() {
        return false;
    }

    /**
     * The peer answered over the control connection: it is there and its loop runs. A link whose
     * requests still have had no answer since it asked has lost its path, and fails.
     */
    default void probeAnswered() {
    }

    @Override
    void close();
}
