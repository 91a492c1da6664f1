package io.vsocket.channel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code -Dio.vsocket.ringSize}: a ring size sets every link's default; none, or 0, leaves each link its own;
 * anything else is ignored with a warning (each link keeps its default) instead of failing every
 * connection's hello later.
 */
class RingSizePropertyTest {
    @Test
    void aRingSizeIsTaken() {
        assertEquals(65536, VSocketLinks.ringSizeProperty("65536"));
        assertEquals(4096, VSocketLinks.ringSizeProperty(" 4096 "));
        assertEquals(64 << 20, VSocketLinks.ringSizeProperty(Integer.toString(64 << 20)));
    }

    @Test
    void noValueOrZeroIsEachLinksDefault() {
        assertEquals(0, VSocketLinks.ringSizeProperty(null));
        assertEquals(0, VSocketLinks.ringSizeProperty("  "));
        assertEquals(0, VSocketLinks.ringSizeProperty("0"), "as the option's 0");
    }

    @Test
    void whatIsNoRingSizeLeavesEachLinksDefault() {
        for (String wrong : new String[] {"3000", "-65536", "2048", Integer.toString(128 << 20), "1m", "65536.0", "0x10000"}) {
            assertEquals(0, VSocketLinks.ringSizeProperty(wrong), wrong);
        }
    }
}
