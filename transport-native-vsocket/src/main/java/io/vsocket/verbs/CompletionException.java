package io.vsocket.verbs;

/** A work request completed with an error status; the message names the status, e.g. {@code IBV_WC_RETRY_EXC_ERR}. */
public final class CompletionException extends VerbsException {
    private static final long serialVersionUID = 1L;
    private final int status;
    private final int vendorError;

    public CompletionException(String operation, int status, int vendorError) {
        super(operation, 0, operation + " completed with " + WcStatus.nameOf(status)
                + " (status " + status + ", vendor error 0x" + Integer.toHexString(vendorError) + ")");
        this.status = status;
        this.vendorError = vendorError;
    }

    public int status() {
        return status;
    }

    public int vendorError() {
        return vendorError;
    }
}
