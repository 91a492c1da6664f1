package io.vsocket.unix;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TCP urgent data over loopback: one byte out of band, not in the stream. */
class NativeSocketUrgentTest {
    private static final InetSocketAddress LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    private static final long TIMEOUT_NANOS = 5_000_000_000L;

    private static int awaitUrgent(NativeSocket socket) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT_NANOS;
        while (System.nanoTime() < deadline) {
            int b = socket.readUrgent();
            if (b >= 0) {
                return b;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("the urgent byte never arrived");
    }

    /** Reads until {@code expected} bytes have come, or fails at the deadline. */
    private static String readInBand(NativeSocket socket, Arena arena, int expected) throws Exception {
        MemorySegment in = arena.allocate(64);
        StringBuilder text = new StringBuilder();
        long deadline = System.nanoTime() + TIMEOUT_NANOS;
        while (text.length() < expected && System.nanoTime() < deadline) {
            int n = socket.read(in.address(), 64);
            assertTrue(n >= 0, "unexpected end of stream");
            text.append(new String(in.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
            if (n == 0) {
                Thread.sleep(1);
            }
        }
        return text.toString();
    }

    private static void write(NativeSocket socket, Arena arena, String text) throws Exception {
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        MemorySegment out = arena.allocateFrom(JAVA_BYTE, bytes);
        assertEquals(bytes.length, socket.write(out.address(), bytes.length));
    }

    @Test
    void anUrgentByteArrivesOutOfBand() throws Exception {
        try (Arena arena = Arena.ofConfined();
             NativeSocket server = NativeSocket.newStreamSocket();
             NativeSocket client = NativeSocket.newStreamSocket()) {
            server.bind(LOOPBACK);
            server.listen(4);
            InetSocketAddress bound = server.localAddress();
            try (NativeSocket peer = NativeSocketTest.connectAndAccept(server, client, bound)) {
                assertEquals(NativeSocket.URGENT_NONE, peer.readUrgent(), "nothing sent yet");

                client.sendUrgent((byte) 'v');
                assertEquals('v', awaitUrgent(peer));
                assertEquals(NativeSocket.URGENT_NONE, peer.readUrgent(), "read once");

                write(client, arena, "after");
                assertEquals("after", readInBand(peer, arena, 5), "the urgent byte is not inline");

                // In the middle of the stream: the in-band bytes on both sides of the mark, without it.
                write(client, arena, "12");
                client.sendUrgent((byte) 0xF0);
                write(client, arena, "34");
                assertEquals(0xF0, awaitUrgent(peer), "a byte above 127 comes back unsigned");
                assertEquals("1234", readInBand(peer, arena, 4));
                MemorySegment in = arena.allocate(8);
                assertEquals(0, peer.read(in.address(), 8), "nothing else in band");
            }
        }
    }

    /**
     * The mark in the middle of a stream: a peek and a read stop before it, {@link NativeSocket#atMark}
     * says when the reads have reached it, and a read that starts there skips the urgent byte and goes
     * on with what follows (why a reader that must find the mark peeks first).
     */
    @Test
    void readsStopAtTheMarkAndAtMarkFindsIt() throws Exception {
        try (Arena arena = Arena.ofConfined();
             NativeSocket server = NativeSocket.newStreamSocket();
             NativeSocket client = NativeSocket.newStreamSocket()) {
            server.bind(LOOPBACK);
            server.listen(4);
            InetSocketAddress bound = server.localAddress();
            try (NativeSocket peer = NativeSocketTest.connectAndAccept(server, client, bound)) {
                assertFalse(peer.atMark(), "no urgent byte yet");
                write(client, arena, "before");
                client.sendUrgent((byte) 'l');
                write(client, arena, "after");
                assertEquals('l', awaitUrgent(peer));
                Thread.sleep(50); // loopback: "after" is queued by now too
                MemorySegment in = arena.allocate(64);
                assertEquals(6, peer.peek(in.address(), 64), "a peek stops before the mark");
                assertFalse(peer.atMark(), "bytes before the mark are unread");
                assertEquals(6, peer.read(in.address(), 64), "so does a read");
                assertEquals("before", new String(in.asSlice(0, 6).toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
                assertTrue(peer.atMark(), "the reads reached the mark");
                assertEquals(5, peer.read(in.address(), 64), "a read at the mark goes past it");
                assertEquals("after", new String(in.asSlice(0, 5).toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
                assertFalse(peer.atMark());
            }
        }
    }
}
