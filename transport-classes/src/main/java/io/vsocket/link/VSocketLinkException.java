package io.vsocket.link;

import java.io.IOException;

/**
 * A connection could not get a link: none of the allowed links is possible with this peer, or the
 * peer broke the hello. The message says which links each side allowed and why each was refused.
 */
public final class VSocketLinkException extends IOException {
    private static final long serialVersionUID = 1L;

    public VSocketLinkException(String message) {
        super(message);
    }

    public VSocketLinkException(String message, Throwable cause) {
        super(message, cause);
    }
}
