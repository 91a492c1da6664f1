package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelOutboundBuffer;
import io.vsocket.loop.VSocketIoEvent;

import java.io.IOException;

/**
 * The link under one connected {@code VSocketSocketChannel}, once the hello has picked it: how the
 * channel's bytes travel — the TCP socket itself ({@link TcpConnectionLink}), or a ring in shared
 * memory (the shm link's) or written over an RDMA queue pair (the rdma link's), both
 * {@link RingConnectionLink}s, with the socket kept as the control connection. The channel keeps Netty's semantics (promises, the
 * read loop, half-closure events, close); the link moves the bytes and does its own waiting: its
 * pollers, doorbells, completion listeners and timers are its own, and it calls the channel back
 * through its {@link LinkHost} when it can take more, has bytes, or broke. One thread: the channel's
 * event loop. Made by the hello, started once, closed once (closing again does nothing).
 */
public interface ConnectionLink {
    /** Which link this is, as the channel's {@code link()} reports it. */
    VSocketLink kind();

    /**
     * Wires the link into the channel's loop; {@code reading}: the application reads now. Bytes that
     * arrived with the peer's first message are looked at from here on.
     */
    void start(boolean reading);

    /**
     * Writes what of the flushed messages it can. What is left waits in {@code in}: the link calls
     * {@link LinkHost#flushReady()} once it can take more (writability, credit), or has asked for a
     * flush from a task when it only spun out. Throws when the link cannot carry bytes any more.
     */
    void write(ChannelOutboundBuffer in) throws Exception;

    /**
     * The next received bytes as they lie in the link's own memory, handed over without a copy, or
     * null when this link does not lend (or not this time): the channel then {@link #read reads}.
     * At most {@code max} bytes: the size the channel's receive allocator would give a read.
     */
    default ByteBuf lend(ByteBufAllocator allocator, int max) throws IOException {
        return null;
    }

    /**
     * Copies received bytes into {@code buf} at its writer index (which does not move): the count, 0
     * when there are none now, or {@link io.vsocket.unix.NativeSocket#EOF} once the peer's stream has
     * ended and every byte of it was read.
     */
    int read(ByteBuf buf) throws IOException;

    /** Whether the application wants bytes now: the link looks for them only while it does. */
    void readInterest(boolean wanted);

    /**
     * The channel's socket reported readiness: the data path itself on tcp, the control connection
     * (which carries nothing but its end) on a ring link.
     */
    void socketReady(VSocketIoEvent event);

    /**
     * Whether a close should first let the link take what is flushed and still waits in the outbound
     * buffer: a socket's close leaves its send buffer to the kernel, which delivers it after the close
     * (several MiB on loopback), where a ring link's close would drop all the ring could not take yet.
     * True for a ring link whose peer is there; a tcp link has the kernel's buffer and closes at once.
     */
    default boolean takesWritesBeforeClose() {
        return false;
    }

    /** This side reads no more: what still comes is dropped (a ring keeps returning credit). */
    void shutdownInput() throws IOException;

    /** This side writes no more, after what it wrote: the peer reads to its end of stream. */
    void shutdownOutput() throws IOException;

    /**
     * Ends the link with the channel: a clean end of stream for the peer, or the reset that
     * {@code SO_LINGER} 0 asks for; then lets go of what the link holds. Called before the socket
     * closes. A link never started (its channel closed while the hello finished) just lets go.
     */
    void close();

    /**
     * The channel leaves its loop ({@code deregister()}, to be registered with another): true when the
     * link let go of what it had there — pollers, watched descriptors, timers — and goes on under the
     * loop the channel is registered with next ({@link #loopJoined()}); false when it stays on this
     * loop (it has work of its own queued there, or cannot move at all), which is then the only one
     * the channel may be registered with again. The tcp link has nothing there but the channel's
     * socket, which the channel moves itself.
     */
    default boolean leaveLoop() {
        return true;
    }

    /** The channel is registered again after the link {@linkplain #leaveLoop() left} its loop: it goes on under the channel's loop now. */
    default void loopJoined() {
    }

    /** The link this connection left for tcp when that link's path failed, or null (a metric). */
    default VSocketLink failedOverFrom() {
        return null;
    }

    /** Bytes sent straight from the application's buffers, without a copy (a metric; 0 once closed). */
    default long bytesSentInPlace() {
        return 0;
    }

    /** Bytes handed to the pipeline as they lay in the link's receive memory (a metric; 0 once closed). */
    default long bytesReceivedInPlace() {
        return 0;
    }
}
