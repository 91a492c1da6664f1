package io.vsocket.verbs;

/**
 * What {@link ProtectionDomain#createQueuePair(QueuePairConfig)} asks for. With a shared receive
 * queue, receives come from it and {@code maxReceiveRequests} is ignored by the device.
 * {@code signalAll} false means only sends flagged {@code IBV_SEND_SIGNALED} produce completions.
 */
public record QueuePairConfig(QpType type, CompletionQueue sendQueue, CompletionQueue receiveQueue,
                              SharedReceiveQueue sharedReceiveQueue, int maxSendRequests,
                              int maxReceiveRequests, int maxSendSge, int maxReceiveSge,
                              int maxInlineData, boolean signalAll) {

    public QueuePairConfig {
        if (type == null || sendQueue == null || receiveQueue == null) {
            throw new IllegalArgumentException("type, send queue and receive queue are required");
        }
    }

    /** One queue for both directions, one scatter/gather element each way, every send signalled. */
    public static QueuePairConfig of(QpType type, CompletionQueue queue, int maxRequests, int maxInlineData) {
        return new QueuePairConfig(type, queue, queue, null, maxRequests, maxRequests, 1, 1, maxInlineData, true);
    }
}
