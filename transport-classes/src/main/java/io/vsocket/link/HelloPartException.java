package io.vsocket.link;

import java.io.IOException;

/**
 * A link's part of a peer's hello cannot be read (too short, stray bytes, a value no peer can
 * mean): the peer is broken or hostile, and the connection fails saying so — unlike a link that
 * cannot be set up here, which only moves the hello on to the next link.
 */
public final class HelloPartException extends IOException {
    public HelloPartException(String message) {
        super(message);
    }
}
