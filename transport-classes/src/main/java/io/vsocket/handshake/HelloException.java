package io.vsocket.handshake;

import java.io.IOException;

/** The peer's hello broke the protocol: bad magic after the marker, a bad length, an unknown link. */
public final class HelloException extends IOException {
    private static final long serialVersionUID = 1L;

    public HelloException(String message) {
        super(message);
    }
}
