package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;

import java.io.IOException;

/** A libc call failed; the message names the call and gives {@code strerror}'s text and the errno. */
public final class NativeIoException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String call;
    private final int errno;

    public NativeIoException(String call, int errno) {
        super(call + " failed: " + LibC.strerror(errno) + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}
