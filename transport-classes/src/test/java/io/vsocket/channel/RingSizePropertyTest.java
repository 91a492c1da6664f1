package io.vsocket.channel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code -Dio.vsocket.ringSize}: a ring size sets the links' defaults; anything else leaves each link's
 * default in place (with a warning) instead of failing every connection's hello later.
 */
class RingSizePropertyTest {
    @Test
    void aRingSizeIsTaken() {
        assertEquals(65536, VSocketLinks.ringSizeProperty("65536", 1 << 20));
        assertEquals(4096, VSocketLinks.ringSizeProperty(" 4096 ", 1 << 20));
        assertEquals(64 << 20, VSocketLinks.ringSizeProperty(Integer.toString(64 << 20), 1 << 20));
    }

    @Test
    void noValueIsTheLinksDefault() {
        assertEquals(1 << 20, VSocketLinks.ringSizeProperty(null, 1 << 20));
        assertEquals(256 << 10, VSocketLinks.ringSizeProperty("  ", 256 << 10));
    }

    @Test
    void whatIsNoRingSizeLeavesTheDefault() {
        for (String wrong : new String[] {"3000", "0", "-65536", "2048", Integer.toString(128 << 20), "1m", "65536.0"}) {
            assertEquals(1 << 20, VSocketLinks.ringSizeProperty(wrong, 1 << 20), wrong);
        }
    }
}
