package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A verbs call failed. The message names the call and gives {@code strerror}'s text and the errno,
 * e.g. {@code ibv_modify_qp(RESET -> RTS) failed: Invalid argument (errno 22)}.
 */
public class VerbsException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    public VerbsException(String call, int errno) {
        super(call + " failed: " + LibC.strerror(errno) + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    protected VerbsException(String call, int errno, String message) {
        super(message);
        this.call = call;
        this.errno = errno;
    }

    /** The call that failed, with any detail in parentheses. */
    public String call() {
        return call;
    }

    /** The errno value, or 0 when the failure carried none (a work completion error, say). */
    public int errno() {
        return errno;
    }

    /**
     * Throws when {@code rc} says a call failed. libibverbs returns the errno value itself from most
     * {@code int} calls and -1 with errno set from a few; both are handled.
     */
    static void check(String call, int rc, MemorySegment errnoState) throws VerbsException {
        if (rc != 0) {
            throw new VerbsException(call, rc > 0 ? rc : Downcalls.errno(errnoState));
        }
    }

    /** Returns {@code pointer}, or throws with the captured errno when it is NULL. */
    static MemorySegment checkPointer(String call, MemorySegment pointer, MemorySegment errnoState) throws VerbsException {
        if (pointer.equals(MemorySegment.NULL)) {
            int errno = Downcalls.errno(errnoState);
            throw new VerbsException(call, errno != 0 ? errno : LibC.EINVAL);
        }
        return pointer;
    }
}
