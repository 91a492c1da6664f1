package io.vsocket.loop;

/**
 * A user-space queue the event loop polls while it spins, before it blocks: an ibverbs completion
 * queue, a shared-memory completion ring. Polling one costs no system call, which is why the loop
 * spins on these and not on epoll.
 */
public interface VSocketLoopPoller {
    /** Handles what is ready without blocking; returns how many items it handled. */
    int poll();

    /**
     * Arms the queue's notification (its descriptor becomes readable on new work) just before the
     * loop blocks, and polls once more; returns true when work arrived meanwhile and the loop must
     * not block.
     */
    boolean armAndCheck();
}
