package io.vsocket.handshake;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.vsocket.link.HelloPart;
import io.vsocket.link.HelloPartException;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.link.shm.ShmHello;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Hello#decode} on whatever a peer sends after the marker. The documented outcomes are a
 * message, null while incomplete, or a {@link HelloException}; anything else thrown is a finding.
 */
class HelloFuzzTest {
    /** Bit 0 of the first input byte: the magic goes first (else the fuzzer spends its time finding it). */
    private static final int WITH_MAGIC = 1;
    /** Bit 1: a well-framed header too (version, the next input byte as type, the rest's length), so bodies get fuzzed. */
    private static final int FRAMED = 2;

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void decode(byte[] input) {
        if (input.length == 0) {
            return;
        }
        ByteBuf in = Unpooled.buffer();
        int mode = input[0];
        int from = 1;
        if ((mode & (WITH_MAGIC | FRAMED)) != 0) {
            in.writeBytes(Hello.MAGIC);
        }
        if ((mode & FRAMED) != 0 && input.length > 1) {
            int body = Math.min(input.length - 2, Hello.MAX_BODY);
            in.writeByte(Hello.VERSION).writeByte(input[1] & 3).writeShort(body);
            from = 2;
        }
        in.writeBytes(input, from, input.length - from);
        byte[] sent = ByteBufUtil.getBytes(in);

        Hello.Message message;
        try {
            message = Hello.decode(in);
        } catch (HelloException e) {
            // The late-hello watch hands these bytes to the application as they are: none may be gone.
            assertEquals(0, in.readerIndex(), "a rejected hello consumed bytes");
            return;
        }
        int length = sent.length >= Hello.HEADER ? (sent[10] & 0xff) << 8 | sent[11] & 0xff : -1;
        if (message == null) {
            assertEquals(0, in.readerIndex(), "an incomplete hello consumed bytes");
            assertTrue(length < 0 || sent.length < Hello.HEADER + length, "a complete hello decoded to nothing");
            return;
        }
        assertEquals(Hello.HEADER + length, in.readerIndex(), "a hello consumed other than its own bytes");
        readEachPart(message);
        byte[] consumed = Arrays.copyOf(sent, in.readerIndex());
        for (int prefix : new int[] {Hello.HEADER - 1, Hello.HEADER, consumed.length - 1}) {
            if (prefix >= 0 && prefix < consumed.length) {
                ByteBuf part = Unpooled.wrappedBuffer(consumed, 0, prefix);
                assertNull(decodeOrFail(part), "a prefix of a valid hello is incomplete, not wrong");
            }
        }

        // Decoding loses only what is not UTF-8 in a string (replaced): otherwise it is exact, and
        // what it yields encodes and decodes to itself.
        byte[] again;
        try {
            again = encoded(message);
        } catch (IllegalArgumentException e) {
            assertTrue(replaced(message), "a decoded hello cannot be encoded: " + e.getMessage());
            return;
        }
        if (!replaced(message)) {
            assertArrayEquals(consumed, again, "decode and encode disagree");
        }
        assertArrayEquals(again, encoded(decodeOrFail(Unpooled.wrappedBuffer(again))), "not a fixpoint");
    }

    /**
     * Each link reads its own part of a hello: whatever the bytes, it takes them or throws
     * {@link HelloPartException} (which fails the hello, saying why), never anything else.
     */
    private static void readEachPart(Hello.Message message) {
        switch (message) {
            case Hello.ServerHello m -> m.parts().forEach((link, part) -> readPart(link, part, true));
            case Hello.ClientHello m -> readPart(m.link(), m.part(), false);
            case Hello.LinkReady m -> readPart(m.link(), m.part(), false);
        }
    }

    private static void readPart(VSocketLink link, byte[] part, boolean offer) {
        ByteBuf bytes = Unpooled.wrappedBuffer(part);
        try {
            switch (link) {
                case SHM -> {
                    if (offer) {
                        ShmHello.OfferPart.read(bytes);
                    } else {
                        HelloPart.requireEnd(bytes, "shm's choice or ready");
                    }
                }
                case RDMA -> {
                    if (offer) {
                        HelloPart.requireEnd(bytes, "rdma's offer");
                    } else {
                        RdmaEndpoint.read(bytes);
                        HelloPart.requireEnd(bytes, "an rdma endpoint");
                    }
                }
                case TCP -> assertEquals(0, part.length, "tcp has no part");
            }
        } catch (HelloPartException e) {
            assertTrue(e.getMessage() != null && !e.getMessage().isEmpty(), "a refused part says why");
        }
    }

    private static Hello.Message decodeOrFail(ByteBuf in) {
        try {
            return Hello.decode(in);
        } catch (HelloException e) {
            throw new AssertionError("a valid hello, or its prefix, was rejected", e);
        }
    }

    private static byte[] encoded(Hello.Message message) {
        ByteBuf out = Unpooled.buffer();
        switch (message) {
            case Hello.ServerHello m -> Hello.encode(m, out);
            case Hello.ClientHello m -> Hello.encode(m, out);
            case Hello.LinkReady m -> Hello.encode(m, out);
        }
        return ByteBufUtil.getBytes(out);
    }

    private static boolean replaced(Hello.Message message) {
        return switch (message) {
            case Hello.ServerHello m -> false; // each link's part is bytes, read by the link
            case Hello.ClientHello m -> false;
            case Hello.LinkReady m -> m.reason().indexOf('\ufffd') >= 0;
        };
    }
}
