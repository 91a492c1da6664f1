package io.vsocket.channel;

import io.netty.channel.IoHandle;

/**
 * Something a {@link VSocketIoHandler} watches: a file descriptor (a socket, an eventfd, a
 * completion channel) whose readiness it reports as {@link VSocketIoEvent}s.
 */
public interface VSocketIoHandle extends IoHandle {
    /** The descriptor to watch; it must stay open while registered. */
    int fd();
}
