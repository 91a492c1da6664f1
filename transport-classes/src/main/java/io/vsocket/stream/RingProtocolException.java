package io.vsocket.stream;

import java.io.IOException;

/** The peer moved a ring cursor in a way the protocol forbids: it is cut off. */
public final class RingProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    public RingProtocolException(String message) {
        super(message);
    }
}
