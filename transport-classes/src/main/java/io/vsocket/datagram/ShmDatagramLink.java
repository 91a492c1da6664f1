package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;

import java.net.InetSocketAddress;

/**
 * Datagrams between two channels on one host, both ways over one {@link ShmLink}: each datagram a
 * record of a 4-byte length (network byte order) and its bytes, written whole into the peer's ring
 * or not at all. The shm link brings the rest — rings in a sealed memfd, cursors checked on every
 * read, doorbells, credit — so a peer that writes garbage spoils only this link: a record longer
 * than a datagram or than the ring is a {@link RingProtocolException}, and a record whose bytes
 * never come keeps only this link waiting.
 *
 * <p>The side that attached the peer's memory confirms it before any datagram with one record of
 * length -1 that holds the token its resolver handed the offering side over UDP ({@link
 * #confirm}); the offering side takes it once, and only with that token ({@link #confirmed()}).
 * Until then the offering side sends nothing on the link: it cannot tell whether anybody maps the
 * rings (its set-up may have reached a rendezvous that did not expect it), nor whether the process
 * at the rendezvous is the one that owns the peer's UDP port (another process of the same user may
 * have bound the rendezvous name first); only the port's owner knows the token.
 *
 * <p>Datagram semantics, not a stream's: a datagram that does not fit the credit left is not
 * written ({@link #send} says false: the caller sends it over UDP), and a peer that has closed
 * takes nothing more. Event-loop thread only.
 */
public final class ShmDatagramLink implements AutoCloseable {
    /** The largest datagram a record may hold: what an IPv6 UDP datagram can carry. */
    public static final int MAX_DATAGRAM = 65535;
    private static final int HEADER = 4;
    /** The length field of the confirmation record. */
    private static final int CONFIRMATION = -1;
    private static final int TOKEN = 8;

    private final ShmLink link;
    private final InetSocketAddress peer;
    /** This side made the rings and sent them (it waits for the confirmation); false: it attached them. */
    private final boolean offered;
    /** The offering side: the token the confirmation must hold. */
    private final long token;
    private boolean confirmed;
    private final ByteBuf header = Unpooled.directBuffer(HEADER, HEADER);
    /** Where the cut-off end of a datagram goes (rare: only a receive buffer smaller than a datagram). */
    private ByteBuf skipScratch = Unpooled.EMPTY_BUFFER;
    /** The length of the record whose header was read and whose bytes are not all there yet; -1 between records. */
    private int awaiting = -1;
    private boolean unpublished;
    private boolean closed;
    private long sent;
    private long received;

    private ShmDatagramLink(ShmLink link, InetSocketAddress peer, boolean offered, long token) {
        this.link = link;
        this.peer = peer;
        this.offered = offered;
        this.token = token;
        this.confirmed = !offered;
    }

    /**
     * The side that made the rings (taking ownership of {@code link}); {@code peer} is the UDP
     * address the peer's datagrams come from, {@code token} what its resolver handed this side.
     */
    public static ShmDatagramLink offered(ShmLink link, InetSocketAddress peer, long token) {
        return new ShmDatagramLink(link, peer, true, token);
    }

    /** The side that attached the peer's rings (taking ownership of {@code link}); confirm it next. */
    public static ShmDatagramLink attached(ShmLink link, InetSocketAddress peer) {
        return new ShmDatagramLink(link, peer, false, 0);
    }

    /**
     * The attaching side: tells the offering side its rings are mapped here, with the {@code token}
     * this side's resolver handed it (before any datagram).
     */
    public void confirm(long token) throws RingProtocolException {
        if (offered || link.credit() < HEADER + TOKEN) {
            throw new IllegalStateException("only a freshly attached link confirms");
        }
        ByteBuf record = Unpooled.buffer(HEADER + TOKEN).writeInt(CONFIRMATION).writeLong(token);
        writeWhole(record, 0, HEADER + TOKEN);
        link.publish();
    }

    /** Writes all of it, or the peer broke the ring (a short write leaves half a record). */
    private void writeWhole(ByteBuf buf, int index, int length) throws RingProtocolException {
        if (link.write(buf, index, length) != length) {
            throw new RingProtocolException("the peer's ring took part of a record it had credit for");
        }
    }

    /** Whether this side made the rings (and waits for the peer's confirmation). */
    public boolean isOffered() {
        return offered;
    }

    /** Whether the peer mapped the rings (always, on the side that attached them). */
    public boolean confirmed() {
        return confirmed;
    }

    /** The peer's UDP address: where datagrams to it are addressed, and whom its datagrams come from. */
    public InetSocketAddress peer() {
        return peer;
    }

    /** The link underneath (for its doorbell and parking). */
    public ShmLink link() {
        return link;
    }

    /** The peer closed its side: nothing sent now would be read. */
    public boolean peerClosed() {
        return link.peerClosed();
    }

    /**
     * Writes the readable bytes of {@code data} as one record (published at {@link #flush()}), and
     * true; false when the peer has closed or the credit left does not hold the whole record.
     */
    public boolean send(ByteBuf data) throws RingProtocolException {
        int length = data.readableBytes();
        if (length > MAX_DATAGRAM || link.peerClosed() || link.credit() < HEADER + length) {
            return false;
        }
        header.setInt(0, length);
        writeWhole(header, 0, HEADER);
        if (length > 0) {
            writeWhole(data, data.readerIndex(), length);
        }
        unpublished = true;
        sent++;
        return true;
    }

    /** Publishes what {@link #send} wrote, ringing the peer if it sleeps. */
    public void flush() {
        if (unpublished) {
            unpublished = false;
            link.publish();
        }
    }

    /**
     * The length of the next datagram whose bytes have all arrived, or -1 when there is none yet;
     * read it with {@link #readPayload} or drop it with {@link #skipPayload}, before asking again.
     */
    public int next() throws RingProtocolException {
        while (awaiting < 0) {
            if (link.readable() < HEADER) {
                return -1;
            }
            link.read(header, 0, HEADER);
            int length = header.getInt(0);
            if (length == CONFIRMATION && !confirmed) {
                if (link.readable() < TOKEN) {
                    throw new RingProtocolException("the peer's confirmation came without its token");
                }
                link.read(header, 0, HEADER);
                long high = header.getUnsignedInt(0);
                link.read(header, 0, HEADER);
                long presented = high << 32 | header.getUnsignedInt(0);
                if (presented != token) {
                    throw new RingProtocolException("the peer confirmed the link with a token its resolver did not "
                            + "hand out: not the process that owns the peer's UDP port");
                }
                confirmed = true;
                link.returnCredit();
                continue;
            }
            if (length < 0 || length > MAX_DATAGRAM || length > link.receiveRingSize() - HEADER) {
                throw new RingProtocolException("the peer wrote a datagram record of " + (length & 0xffffffffL)
                        + " bytes: at most " + Math.min(MAX_DATAGRAM, link.receiveRingSize() - HEADER) + " fit");
            }
            if (!confirmed) {
                throw new RingProtocolException("the peer sent a datagram before it confirmed the link");
            }
            awaiting = length;
        }
        return link.readable() >= awaiting ? awaiting : -1;
    }

    /**
     * Copies at most {@code max} bytes of the datagram {@link #next()} announced to {@code dst}'s
     * writer index (a receive buffer cuts a longer datagram, as on UDP), and moves past all of it.
     */
    public void readPayload(ByteBuf dst, int max) throws RingProtocolException {
        int length = Math.min(awaiting, max);
        assert length >= 0;
        dst.ensureWritable(length);
        int done = 0;
        while (done < length) {
            done += link.read(dst, dst.writerIndex() + done, length - done);
        }
        dst.writerIndex(dst.writerIndex() + length);
        skip(awaiting - length);
        endRecord();
    }

    /** Moves past the datagram {@link #next()} announced without reading it. */
    public void skipPayload() throws RingProtocolException {
        skip(awaiting);
        endRecord();
    }

    private void skip(int bytes) throws RingProtocolException {
        if (bytes > 0 && skipScratch.capacity() == 0) {
            skipScratch = Unpooled.directBuffer(4096, 4096);
        }
        int left = bytes;
        while (left > 0) {
            int chunk = Math.min(left, skipScratch.capacity());
            link.read(skipScratch, 0, chunk);
            left -= chunk;
        }
    }

    private void endRecord() {
        awaiting = -1;
        received++;
        link.returnCredit();
    }

    /** Datagrams written into the peer's ring. */
    public long sent() {
        return sent;
    }

    /** Datagrams read (or skipped) from this side's ring. */
    public long received() {
        return received;
    }

    /** Whether this side has not closed the link yet. */
    public boolean isOpen() {
        return !closed;
    }

    /** Tells the peer this side is gone (its writes stop), and releases the rings and its doorbell (the set-up's connection). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        link.markClosed();
        link.close();
        header.release();
        skipScratch.release();
    }

    @Override
    public String toString() {
        return "ShmDatagramLink(" + peer + ")";
    }
}
