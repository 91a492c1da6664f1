package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.Resources;
import io.vsocket.link.RingConnectionLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * A closed client's last look for its server's offer. A same-host server sends its offer with its
 * first bytes, or a millisecond after the connection began if it writes none; a client that closes
 * before reading it leaves it unread — or the offer arrives at a socket already closed — and either
 * way the client's kernel resets the connection, which drops the bytes the client had written and
 * not yet sent: bytes the application was told were written, lost to a hello it never asked for.
 * So the closing client shuts its output (its last bytes and its end go out as they would) and keeps
 * the connection through a duplicate of its descriptor until the offer is read off it and dropped,
 * the server ends the connection, or the patience runs out; then it closes it. Nothing of the
 * server's behind the offer is read: those bytes stay unread, as an epoll client that closes leaves
 * them. Polled every millisecond on Netty's global executor, not on the channel's loop, which may be
 * shutting down with the channel.
 */
final class OfferDrain implements Runnable {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(OfferDrain.class);
    private static final long POLL_MICROS = 1000;

    private final NativeSocket socket;
    /** The offer's bytes read so far (owned). */
    private final ByteBuf offer;
    /**
     * Where a read lands: the drain's own (freed with it), not a thread's scratch, since the global
     * executor's thread comes and goes and a thread's scratch memory is never freed.
     */
    private final MemorySegment landing = Arena.ofAuto().allocate(Hello.HEADER + Hello.MAX_BODY);
    private final long deadline;

    private OfferDrain(NativeSocket socket, ByteBuf offer, long patienceNanos) {
        this.socket = socket;
        this.offer = offer;
        this.deadline = System.nanoTime() + patienceNanos;
    }

    /**
     * Shuts the output of {@code socket} (whose channel is closing it) and keeps the connection until
     * the offer, of which {@code offerSoFar} came already (taken over), is read, for at most as many
     * hello timeouts as a server waits for a client's choice ({@link LinkNegotiation#SERVER_PATIENCE});
     * false (nothing taken, the caller closes as usual) when the socket is closed already, its close
     * is to be abortive ({@code SO_LINGER} 0: a reset was asked for), or it cannot be kept.
     */
    static boolean start(NativeSocket socket, ByteBuf offerSoFar, long helloTimeoutMillis) {
        if (!socket.isOpen() || RingConnectionLink.closeIsAbortive(socket)) {
            return false;
        }
        NativeSocket kept;
        try {
            socket.shutdown(false, true);
            kept = socket.duplicate();
        } catch (IOException e) {
            logger.debug("cannot keep {} for the server's offer: {}", socket, e.getMessage());
            return false;
        }
        long patience = TimeUnit.MILLISECONDS.toNanos(LinkNegotiation.SERVER_PATIENCE * helloTimeoutMillis);
        OfferDrain drain = new OfferDrain(kept, offerSoFar, patience);
        if (drain.readOffer()) {
            drain.close();
            return true;
        }
        drain.schedule();
        return true;
    }

    private void schedule() {
        try {
            GlobalEventExecutor.INSTANCE.schedule(this, POLL_MICROS, TimeUnit.MICROSECONDS);
        } catch (RuntimeException e) {
            close();
        }
    }

    @Override
    public void run() {
        if (readOffer() || System.nanoTime() - deadline >= 0) {
            close();
        } else {
            schedule();
        }
    }

    /** Reads what is there of the offer; true when done looking (the offer is in, no offer comes, or the connection ended). */
    private boolean readOffer() {
        try {
            while (true) {
                if (offer.isReadable() && !Hello.startsLikeHello(offer)) {
                    return true; // no offer: the server's own bytes (left unread from here on)
                }
                int missing = offer.isReadable() ? Hello.bytesMissing(offer) : Hello.HEADER;
                if (missing == 0) {
                    return true;
                }
                int n = socket.read(landing.address(), (int) Math.min(missing, landing.byteSize()));
                if (n == 0) {
                    return false;
                }
                if (n < 0) {
                    return true;
                }
                offer.writeBytes(landing.asSlice(0, n).asByteBuffer());
            }
        } catch (IOException | RuntimeException e) {
            return true; // reset, or gone: nothing left to keep (and whatever failed, the descriptor goes)
        }
    }

    private void close() {
        offer.release();
        Resources.closeQuietly(socket);
    }
}
