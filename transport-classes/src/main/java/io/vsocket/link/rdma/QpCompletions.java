package io.vsocket.link.rdma;

import io.vsocket.verbs.CompletionBatch;

/**
 * Where an {@link RdmaContext} sends the completions of one queue pair on its completion queue: an
 * rdma link's, or that of any other user of the loop's context (a datagram endpoint), registered
 * under the queue pair's number with {@link RdmaContext#register}. Completions come in two steps,
 * as for the links: each one during the poll that finds it ({@link #completed}), which may run
 * inside another channel's call (a channel polls before it writes, a closing queue pair polls for
 * its last completion) and so must only update this target's own state; then, once per dispatch,
 * {@link #afterCompletions()}, from the loop, where work is posted and listeners run. One thread only.
 */
public abstract class QpCompletions {
    /**
     * Receives of this queue pair are taken from the context's stream shared receive queue (the
     * rdma links'), which the context replenishes for them; a target of code outside this package
     * brings its own receives.
     */
    final boolean streamReceives;
    /** On the context's list of targets to tell at the next dispatch. */
    boolean touched;

    protected QpCompletions() {
        this(false);
    }

    QpCompletions(boolean streamReceives) {
        this.streamReceives = streamReceives;
    }

    /**
     * Completion {@code i} of {@code batch} belongs to this queue pair. Called during a poll, maybe
     * from inside another channel's call: update this target's state, call no listener.
     */
    protected abstract void completed(CompletionBatch batch, int i);

    /** After the polls since the last dispatch, at least one of which had completions for this target. */
    protected abstract void afterCompletions();

    /**
     * The context is closing while this target is still registered: release the queue pair (and
     * unregister) now, since the completion queue and the device go next.
     */
    protected abstract void contextClosing();
}
