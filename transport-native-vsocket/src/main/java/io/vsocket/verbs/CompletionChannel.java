package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_comp_channel;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * A completion channel ({@code struct ibv_comp_channel}): a file descriptor that becomes readable
 * when an armed completion queue attached to it gets a completion. The event loop waits on
 * {@link #fd()} with epoll; {@link #awaitEvent()} blocks on it directly.
 */
public final class CompletionChannel extends VerbsResource {
    private final int fd;
    private final List<CompletionQueue> queues = new ArrayList<>(1);
    /** What {@link #awaitEvent()} passes and gets back, allocated once: taking an event allocates nothing. */
    private final Arena scratch = Arena.ofShared();
    private final MemorySegment errno = Downcalls.newErrnoState(scratch);
    private final MemorySegment cqOut = scratch.allocate(ADDRESS);
    private final MemorySegment contextOut = scratch.allocate(ADDRESS);

    CompletionChannel(MemorySegment channel) {
        super(channel);
        this.fd = ibv_comp_channel.fd(channel.reinterpret(ibv_comp_channel.LAYOUT.byteSize()));
    }

    /** The descriptor to wait on; owned by this channel, never close it directly. */
    public int fd() {
        handle();
        return fd;
    }

    /** Makes {@link #awaitEvent()} return null instead of blocking when there is no event. */
    public void setNonBlocking() throws VerbsException {
        handle();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int flags = LibC.fcntl(errno, fd, LibC.F_GETFL, 0);
            if (flags < 0) {
                throw new VerbsException("fcntl(F_GETFL)", Downcalls.errno(errno));
            }
            if (LibC.fcntl(errno, fd, LibC.F_SETFL, flags | LibC.O_NONBLOCK) < 0) {
                throw new VerbsException("fcntl(F_SETFL, O_NONBLOCK)", Downcalls.errno(errno));
            }
        }
    }

    /**
     * Takes the next completion event: returns the queue that fired, which counts it for
     * {@link CompletionQueue#acknowledgeEvents()}. Blocks until one comes, unless the channel is
     * non-blocking, in which case it returns null when there is none. The queue stays disarmed
     * until {@link CompletionQueue#requestNotification(boolean)} is called again. One thread only (the
     * out-parameters are the channel's own, allocated once), and not concurrently with {@link #close()}.
     */
    public CompletionQueue awaitEvent() throws VerbsException {
        MemorySegment channel = handle();
        int rc;
        do {
            rc = Ibverbs.ibv_get_cq_event(errno, channel, cqOut, contextOut);
        } while (rc != 0 && Downcalls.errno(errno) == LibC.EINTR);
        if (rc != 0) {
            int e = Downcalls.errno(errno);
            if (e == LibC.EAGAIN) {
                return null;
            }
            throw new VerbsException("ibv_get_cq_event", e);
        }
        long address = cqOut.get(ADDRESS, 0).address();
        for (int i = 0; i < queues.size(); i++) {
            CompletionQueue queue = queues.get(i);
            if (queue.handle().address() == address) {
                queue.eventReceived();
                return queue;
            }
        }
        throw new IllegalStateException("completion event for a queue this channel does not know: 0x"
                + Long.toHexString(address));
    }

    void attach(CompletionQueue queue) {
        queues.add(queue);
    }

    void detach(CompletionQueue queue) {
        queues.remove(queue);
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_destroy_comp_channel", handle, Ibverbs::ibv_destroy_comp_channel);
    }

    @Override
    void afterClose() {
        scratch.close();
    }

    @Override
    public String toString() {
        return "CompletionChannel(fd " + fd + ")";
    }
}
