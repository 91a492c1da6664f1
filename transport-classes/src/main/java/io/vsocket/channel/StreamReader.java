package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;

import java.io.IOException;

/**
 * A stream channel's read, as Netty's epoll stream channel reads: each round lends the link's bytes
 * where they lie or reads into a buffer the receive allocator gives, hands it to the pipeline, and
 * goes on while the allocator asks for more; the end of the peer's stream half-closes the input or
 * closes the channel, as {@code ALLOW_HALF_CLOSURE} says, and one more read then reports that all
 * was read. One per channel, on its event loop; the bytes come from the channel's {@link StreamPath}.
 */
final class StreamReader {
    private final VSocketSocketChannel channel;
    private final VSocketSocketChannelConfig config;
    private final StreamPath path;
    /** A half-closed channel was told that all was read ({@link ChannelInputShutdownReadComplete}): nothing is left. */
    private boolean endReported;

    StreamReader(VSocketSocketChannel channel, VSocketSocketChannelConfig config, StreamPath path) {
        this.channel = channel;
        this.config = config;
        this.path = path;
    }

    /** Whether a read may still find something: before the end, or half-closed until the end is reported. */
    boolean mayRead() {
        return !channel.inputShut() || !endReported && config.isAllowHalfClosure();
    }

    /**
     * Reads what the link has, as far as the receive allocator goes; {@code toEnd}: on to the end of
     * stream whatever it says (the peer's end came: epoll's read on a hang-up goes on to the end,
     * auto-read or not, so an application that does not read still learns its peer closed).
     */
    void read(VSocketSocketChannel.VSocketUnsafe unsafe, boolean toEnd) {
        if (unsafe.closing()) {
            return; // closed by the application, its last writes going into the ring: nothing more reaches it
        }
        if (!mayRead()) {
            channel.stopReading();
            return;
        }
        ChannelPipeline pipeline = channel.pipeline();
        ByteBufAllocator allocator = config.getAllocator();
        RecvByteBufAllocator.Handle allocHandle = unsafe.recvBufAllocHandle();
        allocHandle.reset(config);
        ByteBuf buf = null;
        boolean eof = false;
        try {
            do {
                // No larger than the buffer an allocator the application set would give (none under
                // 4 KiB), as on epoll; the default one's shrinking guess does not bound loans.
                buf = path.lend(allocator, config.isRecvAllocatorSet() ? allocHandle.guess() : Integer.MAX_VALUE);
                if (buf != null) {
                    allocHandle.attemptedBytesRead(buf.readableBytes());
                    allocHandle.lastBytesRead(buf.readableBytes());
                } else {
                    buf = allocHandle.allocate(allocator);
                    allocHandle.attemptedBytesRead(buf.writableBytes());
                    int n = path.read(buf);
                    allocHandle.lastBytesRead(n);
                    if (n <= 0) {
                        buf.release();
                        buf = null;
                        eof = n < 0;
                        if (eof) {
                            unsafe.readPending = false;
                        }
                        break;
                    }
                    buf.writerIndex(buf.writerIndex() + n);
                }
                allocHandle.incMessagesRead(1);
                unsafe.readPending = false;
                pipeline.fireChannelRead(buf);
                buf = null;
                // A handler may have closed the channel: its descriptor's number may be another
                // socket's by now (another loop's accept), and a read through it would take that
                // connection's bytes.
                // So may a close that waits for its ring to take the last writes: the channel stays open
                // meanwhile, but nothing more reaches the application.
            } while (channel.isOpen() && !unsafe.closing()
                    && (toEnd ? !inputShutWithoutHalfClosure() : allocHandle.continueReading()));
            allocHandle.readComplete();
            pipeline.fireChannelReadComplete();
            if (eof && !unsafe.closing()) {
                inputEnded(unsafe);
            }
        } catch (Throwable t) {
            if (buf != null) {
                if (buf.isReadable()) {
                    unsafe.readPending = false;
                    pipeline.fireChannelRead(buf);
                } else {
                    buf.release();
                }
            }
            allocHandle.readComplete();
            pipeline.fireChannelReadComplete();
            if (unsafe.failedWhileWriting(t)) {
                return; // the waiting writes fail with it, as epoll's (see there)
            }
            pipeline.fireExceptionCaught(t);
            if (t instanceof IOException || t instanceof OutOfMemoryError) {
                // As epoll and NIO end a read that failed: the input ends as an end of stream would —
                // half-closed where the application allows it (a reset still reaches it as a
                // ChannelInputShutdownEvent), closed where not.
                inputEnded(unsafe);
            }
        } finally {
            if (!unsafe.readPending && !config.isAutoRead()) {
                channel.stopReading();
            }
        }
    }

    /** A handler shut the input during a read to the end, and half-closure is off: epoll's read stops there too. */
    private boolean inputShutWithoutHalfClosure() {
        return channel.inputShut() && !config.isAllowHalfClosure();
    }

    /**
     * The application shut the input: a channel that allows half-closure is told that all was read,
     * as epoll tells it a turn later (the shut socket reads as an end, which its hang-up watch sees
     * whether the application reads or not); a probe saw no event on vsocket, 10 of 10.
     */
    void inputShutHere() {
        if (channel.isOpen() && channel.inputShut() && !endReported && config.isAllowHalfClosure()) {
            endReported = true;
            channel.stopReading();
            // As epoll's read that meets the shut input's end: its read-complete, then the event.
            channel.pipeline().fireChannelReadComplete();
            channel.pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
        }
    }

    /**
     * The peer closed its side, or the read failed: half-close or close, as {@code ALLOW_HALF_CLOSURE} says.
     * A half-closed channel is told at once that all was read, too: the read that met the end (or the error)
     * read everything there was, and epoll's fires both events back to back, with no read-complete between
     * (a probe: vsocket's came a turn later, behind a read-complete that read nothing).
     */
    private void inputEnded(VSocketSocketChannel.VSocketUnsafe unsafe) {
        ChannelPipeline pipeline = channel.pipeline();
        if (!channel.inputShut()) {
            if (!config.isAllowHalfClosure()) {
                unsafe.close(unsafe.voidPromise());
                return;
            }
            try {
                channel.shutdownInputState();
            } catch (IOException e) {
                pipeline.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                unsafe.close(unsafe.voidPromise());
                return;
            }
            pipeline.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
        if (!endReported) {
            endReported = true;
            channel.stopReading();
            pipeline.fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
        }
    }
}
