package io.vsocket.verbs;

import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_cq;

import java.lang.foreign.MemorySegment;

/**
 * A completion queue ({@code struct ibv_cq}). {@link #poll(CompletionBatch)} drains it in one
 * downcall; {@link #requestNotification(boolean)} arms it so its channel fires on the next
 * completion. Events taken from the channel are counted here and acknowledged in one call by
 * {@link #acknowledgeEvents()}; close acknowledges whatever is left, since {@code ibv_destroy_cq}
 * waits for every event to be acknowledged.
 */
public final class CompletionQueue extends VerbsResource {
    private final CompletionChannel channel;
    private final int capacity;
    private int unacknowledgedEvents;

    CompletionQueue(MemorySegment cq, CompletionChannel channel) {
        super(cq);
        this.channel = channel;
        this.capacity = ibv_cq.cqe(cq.reinterpret(ibv_cq.LAYOUT.byteSize()));
    }

    /** The number of entries the queue holds (at least what was asked for). */
    public int capacity() {
        return capacity;
    }

    public CompletionChannel channel() {
        return channel;
    }

    /**
     * Polls up to {@code batch.capacity()} completions into {@code batch}; returns how many (0 when
     * the queue is empty).
     */
    public int poll(CompletionBatch batch) throws VerbsException {
        int n = Glue.vs_poll_cq_batch(handle(), batch.capacity(), batch.segment());
        if (n < 0) {
            throw new VerbsException("ibv_poll_cq", -n);
        }
        batch.size(n);
        return n;
    }

    /** Arms the queue: its channel gets an event for the next (solicited, if asked) completion. */
    public void requestNotification(boolean solicitedOnly) throws VerbsException {
        int rc = Glue.vs_req_notify_cq(handle(), solicitedOnly ? 1 : 0);
        if (rc != 0) {
            throw new VerbsException("ibv_req_notify_cq", rc);
        }
    }

    void eventReceived() {
        unacknowledgedEvents++;
    }

    /** The events taken from the channel and not yet acknowledged. */
    public int unacknowledgedEvents() {
        return unacknowledgedEvents;
    }

    /** Acknowledges every event taken so far, in one {@code ibv_ack_cq_events} call. */
    public void acknowledgeEvents() {
        if (unacknowledgedEvents > 0) {
            Ibverbs.ibv_ack_cq_events(handle(), unacknowledgedEvents);
            unacknowledgedEvents = 0;
        }
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        if (unacknowledgedEvents > 0) {
            Ibverbs.ibv_ack_cq_events(handle, unacknowledgedEvents);
            unacknowledgedEvents = 0;
        }
        destroy("ibv_destroy_cq", handle, Ibverbs::ibv_destroy_cq);
    }

    @Override
    void afterClose() {
        if (channel != null) {
            channel.detach(this);
        }
    }

    @Override
    public String toString() {
        return "CompletionQueue(" + capacity + " entries)";
    }
}
