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
     * that skipped {@code prepareToDestroy}): nothing can be delivered to a pipeline any more, so a
     * channel only closes its descriptor. Defaults to {@link #close()}.
     */
    default void closeAfterLoopEnded() throws Exception {
        close();
    }
}
