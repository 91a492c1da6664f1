package io.vsocket.link;

import io.netty.channel.EventLoop;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;

/**
 * The channel as its {@link ConnectionLink} sees it: the loop, the socket's epoll interest, and the
 * three things a link tells the channel — bytes came (or the end did), there is room for more, the
 * link broke. Everything else about Netty's semantics stays in the channel.
 */
public interface LinkHost {
    EventLoop eventLoop();

    /** The loop's handler (pollers, rdma contexts, registrations). */
    VSocketIoHandler ioHandler();

    /** Adds {@code ops} ({@link VSocketIoOps} flags) to what epoll watches on the channel's socket. */
    void watch(int ops);

    /** Removes {@code ops} from what epoll watches on the channel's socket. */
    void unwatch(int ops);

    /** Received bytes, or the end of the peer's stream, are there to read: runs the channel's read loop. */
    void readReady();

    /**
     * The peer's end of output came: runs the channel's read loop on to the end of stream, whether
     * the application reads or not (auto-read off), as epoll's read on a hang-up does.
     */
    void hangUpReady();

    /** The link can take more: writes what the outbound buffer holds now. */
    void flushReady();

    /** Writes what the outbound buffer holds from a task, after other channels had their turn. */
    void flushLater();

    /** The socket's readiness as the channel handles it itself (write, read, hang-up, in epoll's order). */
    void socketReadyForChannel(VSocketIoEvent event);

    /** The link broke: the pipeline hears {@code cause} and the channel closes. */
    void failed(Throwable cause);

    boolean isOpen();

    /** The application shut this channel's input down (or the end of stream did, with half-closure). */
    boolean isInputShutdown();

    /**
     * The application closed the channel and its close waits for the link to take the last writes:
     * nothing more is read for it, so a dead or resetting peer's error fails the channel at once (not
     * through reads that will never come), while the peer's bytes stay unread (the end is then a reset).
     */
    default boolean isClosing() {
        return false;
    }
}
