package io.vsocket.loop;

import io.netty.channel.IoHandle;

/**
 * Something a {@link VSocketIoHandler} watches: a file descriptor (a socket, an eventfd, a
 * completion channel) whose readiness it reports as {@link VSocketIoEvent}s.
 */
public interface VSocketIoHandle extends IoHandle {
    /** The descriptor to watch; it must stay open while registered. */
    int fd();

    /**
     * Releases the handle's resources when its loop has already stopped running tasks (a shutdown
     * that skipped {@code prepareToDestroy}), on the loop's thread still: no task can run any more, but
     * a channel still completes its close there (its close future and queued writes; Netty cannot run
     * {@code channelInactive} and logs that). Defaults to {@link #close()}.
     */
    default void closeAfterLoopEnded() throws Exception {
        close();
    }
}
