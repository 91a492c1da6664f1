package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.StreamLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A ring link's stream carried on over the connection's TCP socket once the ring's own path failed
 * (on rdma: a completion error — the RoCE path cut, the device gone, the port down): nothing lost,
 * duplicated or reordered, and the application sees no error; the channel's {@code link()} says tcp
 * from then on, and a log line says what happened.
 *
 * <p>The protocol. Until then the TCP connection carried nothing (it is the control connection).
 * Each side, once it knows — its ring failed, or the peer's message came — stops its ring (no byte
 * of the peer's lands in it any more; see {@link StreamLink#stopForFailover()}) and sends one
 * 16-byte {@link ControlMessage}: the magic {@code "vsfo"}, 4 bytes of zero, and the length of the
 * peer's stream as this side received it (big-endian); a probe or an answer the peer sent before
 * its own fail-over message is passed over (none is answered once this side's message went). Everything it sends after
 * that message is the stream itself: first its own bytes from where the peer's message says the
 * peer's stream ends (the ring link kept every byte its peer's device has not acknowledged), then
 * what the application writes. Each side reads first what its ring held unread up to the end it
 * reported, then the TCP stream after the peer's message. A side that does not hear the peer's
 * message within ten hello timeouts closes the channel with an error, as one that hears anything
 * else does.
 *
 * <p>Event-loop thread only; made and driven by its {@link RingConnectionLink}.
 */
final class RingFailover {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RingFailover.class);
    /** How many hello timeouts a side waits for the peer's message. */
    private static final int PATIENCE = 10;

    private final LinkHost host;
    private final NativeSocket socket;
    private final LinkSettings config;
    private final StreamLink ring;
    private final VSocketLink from;
    private final long startNanos = System.nanoTime();
    /** The ring's unread bytes when it stopped: read before anything that comes over tcp. */
    private ByteBuf unread;
    /** The peer's message, as far as it came. */
    private final ByteBuf message = Unpooled.buffer(ControlMessage.SIZE);
    /** This side's bytes the peer did not receive over the ring: sent first over tcp. */
    private ByteBuf resend;
    private TcpConnectionLink tcp;
    private Future<?> timeout;
    private boolean readInterest;
    private boolean outputShutdown;
    private boolean closed;

    private RingFailover(LinkHost host, NativeSocket socket, LinkSettings config, StreamLink ring, VSocketLink from,
                         boolean readInterest, boolean outputShutdown) {
        this.host = host;
        this.socket = socket;
        this.config = config;
        this.ring = ring;
        this.from = from;
        this.readInterest = readInterest;
        this.outputShutdown = outputShutdown;
    }

    /**
     * Stops {@code ring} and tells the peer where its stream ends here; {@code outputShutdown}: this
     * side's output was shut down (its end goes over tcp too, after the resent bytes); {@code cause}:
     * this side's failure, or null when the peer's message started it. Throws when the message
     * cannot be sent.
     */
    static RingFailover start(LinkHost host, NativeSocket socket, LinkSettings config, StreamLink ring,
                              VSocketLink from, boolean readInterest, boolean outputShutdown, IOException cause)
            throws IOException {
        RingFailover failover = new RingFailover(host, socket, config, ring, from, readInterest, outputShutdown);
        long received = ring.stopForFailover();
        failover.unread = ring.unread(received);
        try {
            failover.begin(received, cause);
        } catch (IOException | RuntimeException e) {
            failover.unread.release();
            failover.message.release();
            throw e;
        }
        return failover;
    }

    private void begin(long received, IOException cause) throws IOException {
        if (cause != null) {
            logger.warn("{}: the {} link failed ({}); the connection goes on over tcp", host, from.name().toLowerCase(),
                    cause.getMessage());
        } else {
            logger.warn("{}: the peer's {} link failed; the connection goes on over tcp", host, from.name().toLowerCase());
        }
        send(received);
        long millis = (long) PATIENCE * config.getHelloTimeoutMillis();
        timeout = host.eventLoop().schedule(() -> timedOut(millis), millis, TimeUnit.MILLISECONDS);
    }

    private void send(long received) throws IOException {
        // The socket has carried nothing else this way but whole messages: its buffer takes this one at once.
        ControlMessage.send(socket, ControlMessage.FAILOVER, received);
    }

    private void timedOut(long millis) {
        if (!closed && tcp == null) {
            host.failed(new IOException("the " + from.name().toLowerCase() + " link failed and the peer did not answer "
                    + "the fail-over to tcp within " + millis + " ms"));
        }
    }

    /** The stream runs over tcp now. */
    boolean onTcp() {
        return tcp != null;
    }

    /** Takes bytes of the peer's message read by the ring link before this started. */
    void messageBytes(ByteBuf bytes) throws IOException {
        message.writeBytes(bytes);
        if (message.readableBytes() == ControlMessage.SIZE) {
            messageDone();
        }
    }

    /** The socket is ready: the rest of the peer's message, or (on tcp) the stream itself. */
    void socketReady(VSocketIoEvent event) {
        if (closed) {
            return;
        }
        try {
            if (tcp == null) {
                readMessage();
                return;
            }
            if (resend != null && event.isWritable()) {
                writeResend();
            }
            tcp.socketReady(event);
        } catch (IOException e) {
            host.failed(e);
        }
    }

    private void readMessage() throws IOException {
        while (tcp == null && !closed) {
            MemorySegment scratch = Scratch.segment();
            // No further than the message: what follows the peer's fail-over message is the stream,
            // the tcp link's to read.
            int n = socket.read(scratch.address(), ControlMessage.SIZE - message.readableBytes());
            if (n == NativeSocket.EOF) {
                throw new IOException("the peer closed the connection during the fail-over of its "
                        + from.name().toLowerCase() + " link to tcp");
            }
            if (n <= 0) {
                return;
            }
            message.writeBytes(scratch.asSlice(0, n).asByteBuffer());
            if (message.readableBytes() == ControlMessage.SIZE) {
                messageDone();
            }
        }
    }

    /**
     * A whole message came: the peer's fail-over message switches the stream over; a probe or an
     * answer it sent before it is passed over (this side's stream is already the stream itself).
     */
    private void messageDone() throws IOException {
        int magic = ControlMessage.magic(message);
        if (magic == ControlMessage.PROBE || magic == ControlMessage.ANSWER) {
            ControlMessage.value(message); // checked, then passed over
            message.clear();
            return;
        }
        if (magic != ControlMessage.FAILOVER) {
            throw new RingProtocolException("the peer sent " + ControlMessage.SIZE + " bytes on the control connection of the "
                    + from.name().toLowerCase() + " link that are not a fail-over message");
        }
        switchOver(ControlMessage.value(message));
    }

    /** The peer's message is complete: resend what it did not receive and carry on over tcp. */
    private void switchOver(long peerReceived) throws IOException {
        resend = ring.unreceived(peerReceived);
        ring.close();
        timeout.cancel(false);
        tcp = new TcpConnectionLink(host, socket, config);
        tcp.start(readInterest);
        logger.warn("{}: on tcp {} ms after the {} link failed: {} bytes sent again, {} received bytes still to read",
                host, (System.nanoTime() - startNanos) / 1_000_000, from.name().toLowerCase(), resend.readableBytes(),
                unread.readableBytes());
        if (writeResend()) {
            // Writes that waited for the ring's credit, or for the switch, go now.
            host.flushReady();
        }
        if (unread.isReadable() && readInterest) {
            host.readReady();
        }
    }

    /** Writes what the peer did not receive; true once all of it went (then a shut output is passed on). */
    private boolean writeResend() throws IOException {
        ByteBuf r = resend;
        if (r == null) {
            return true;
        }
        while (r.isReadable()) {
            MemorySegment scratch = Scratch.segment();
            int chunk = Math.min(r.readableBytes(), Scratch.SIZE);
            MemorySegment.copy(r.array(), r.arrayOffset() + r.readerIndex(), scratch, ValueLayout.JAVA_BYTE, 0, chunk);
            long n = socket.write(scratch.address(), chunk);
            if (n > 0) {
                r.skipBytes((int) n);
            }
            if (n < chunk) {
                host.watch(VSocketIoOps.OUT);
                return false;
            }
        }
        r.release();
        resend = null;
        host.unwatch(VSocketIoOps.OUT);
        if (outputShutdown) {
            tcp.shutdownOutput();
        }
        return true;
    }

    /** While the peer's message has not come the writes wait; then the resent bytes go first. */
    void write(ChannelOutboundBuffer in) throws Exception {
        if (tcp != null && writeResend()) {
            tcp.write(in);
        }
    }

    int read(ByteBuf buf) throws IOException {
        if (unread.isReadable()) {
            int n = Math.min(buf.writableBytes(), unread.readableBytes());
            buf.setBytes(buf.writerIndex(), unread, unread.readerIndex(), n);
            unread.skipBytes(n);
            return n;
        }
        return tcp != null ? tcp.read(buf) : 0;
    }

    void readInterest(boolean wanted) {
        readInterest = wanted;
        if (tcp != null) {
            tcp.readInterest(wanted);
        }
        if (wanted && unread.isReadable()) {
            host.eventLoop().execute(() -> {
                if (!closed && readInterest && unread.isReadable()) {
                    host.readReady();
                }
            });
        }
    }

    void shutdownInput() throws IOException {
        if (tcp != null) {
            tcp.shutdownInput();
        }
    }

    void shutdownOutput() throws IOException {
        outputShutdown = true;
        if (tcp != null && resend == null) {
            tcp.shutdownOutput();
        }
    }

    void close() {
        if (closed) {
            return;
        }
        closed = true;
        timeout.cancel(false);
        boolean complete;
        if (tcp != null) {
            try {
                // The channel closes the socket next: what it takes of the resent bytes still goes.
                complete = writeResend();
            } catch (IOException e) {
                complete = false;
            }
            tcp.close();
        } else {
            ring.close();
            complete = false;
        }
        if (!complete) {
            // Bytes the application wrote could not all be handed over: the peer must not take the
            // end of the connection for the end of the stream. A reset tells it, as over TCP.
            RingConnectionLink.makeCloseAbortive(socket, host);
            logger.warn("{}: closed during the fail-over to tcp, before every byte was handed over: the peer gets a reset",
                    host);
        }
        unread.release();
        message.release();
        if (resend != null) {
            resend.release();
            resend = null;
        }
    }
}
