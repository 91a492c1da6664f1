package io.vsocket.datagram;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The header in front of every UD datagram's payload (network byte order):
 * <pre>
 * 0  version   1 byte, {@link #VERSION}: a datagram of another version is dropped
 * 1  token     8 bytes: the token the receiver handed the sender in its resolution reply, by which
 *              the receiver knows the sender's UDP address (see {@link PeerResolver#senderOf})
 * 9  payload   up to the path MTU minus these 9 bytes
 * </pre>
 * The version byte leaves room for other kinds of message later (a larger version).
 */
final class UdHeader {
    static final byte VERSION = 1;
    static final int TOKEN_OFFSET = 1;
    static final int LENGTH = 9;
    static final ValueLayout.OfLong TOKEN = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private UdHeader() {
    }

    static void write(MemorySegment memory, long offset, long token) {
        memory.set(ValueLayout.JAVA_BYTE, offset, VERSION);
        memory.set(TOKEN, offset + TOKEN_OFFSET, token);
    }

    /** True when {@code length} bytes at {@code offset} start with a header of this version. */
    static boolean valid(MemorySegment memory, long offset, int length) {
        return length >= LENGTH && memory.get(ValueLayout.JAVA_BYTE, offset) == VERSION;
    }

    static long token(MemorySegment memory, long offset) {
        return memory.get(TOKEN, offset + TOKEN_OFFSET);
    }
}
