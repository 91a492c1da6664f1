package io.vsocket.verbs;

import io.vsocket.ffm.glue.vs_completion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A reusable native array of completions in the glue's compact form ({@code struct vs_completion}),
 * filled by {@link CompletionQueue#poll(CompletionBatch)}. Reading it allocates nothing.
 */
public final class CompletionBatch implements AutoCloseable {
    private static final long STRIDE = vs_completion.sizeof();

    private final Arena arena;
    private final MemorySegment segment;
    private final int capacity;
    private int size;

    public CompletionBatch(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        this.arena = Arena.ofShared();
        this.segment = arena.allocate(vs_completion.LAYOUT, capacity);
        this.capacity = capacity;
    }

    public int capacity() {
        return capacity;
    }

    /** How many completions the last poll stored. */
    public int size() {
        return size;
    }

    void size(int size) {
        this.size = size;
    }

    MemorySegment segment() {
        return segment;
    }

    public long wrId(int i) {
        return segment.get(JAVA_LONG, i * STRIDE + vs_completion.wr_id$OFFSET);
    }

    /** The {@link WcStatus} code; 0 is success. */
    public int status(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.status$OFFSET);
    }

    public boolean isSuccess(int i) {
        return status(i) == 0;
    }

    /** The {@code IBV_WC_*} opcode. */
    public int opcode(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.opcode$OFFSET);
    }

    public int byteLength(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.byte_len$OFFSET);
    }

    /** The immediate data in host byte order (valid when {@link #flags} has {@code IBV_WC_WITH_IMM}). */
    public int immediate(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.imm_data$OFFSET);
    }

    public int qpNumber(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.qp_num$OFFSET);
    }

    /** For UD receives: the sender's queue pair number. */
    public int sourceQpNumber(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.src_qp$OFFSET);
    }

    public int flags(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.wc_flags$OFFSET);
    }

    public int vendorError(int i) {
        return segment.get(JAVA_INT, i * STRIDE + vs_completion.vendor_err$OFFSET);
    }

    /** Throws {@link CompletionException} naming the status when completion {@code i} failed. */
    public void checkSuccess(int i, String operation) throws CompletionException {
        if (!isSuccess(i)) {
            throw new CompletionException(operation, status(i), vendorError(i));
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
