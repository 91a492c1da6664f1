package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The socket bindings over loopback: connect, accept, bytes both ways, half-close, errors. */
class NativeSocketTest {
    private static final InetSocketAddress LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private static long waitFor(java.util.function.LongSupplier op) throws InterruptedException {
        for (int i = 0; i < 2000; i++) {
            long n = op.getAsLong();
            if (n != 0) {
                return n;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("timed out");
    }

    @Test
    void bytesTravelBothWaysAndShutdownGivesEndOfStream() throws Exception {
        try (Arena arena = Arena.ofConfined();
             NativeSocket server = NativeSocket.newStreamSocket();
             NativeSocket client = NativeSocket.newStreamSocket()) {
            server.setIntOption(LibC.SOL_SOCKET, LibC.SO_REUSEADDR, 1, "SO_REUSEADDR");
            server.bind(LOOPBACK);
            server.listen(16);
            InetSocketAddress bound = server.localAddress();
            assertEquals(InetAddress.getLoopbackAddress(), bound.getAddress(), "v4-mapped reads back as IPv4");
            assertTrue(bound.getPort() > 0);
            assertNull(server.accept(), "nothing pending yet");

            boolean connected = client.connect(bound);
            NativeSocket accepted = null;
            for (int i = 0; i < 2000 && accepted == null; i++) {
                accepted = server.accept();
                Thread.sleep(1);
            }
            assertNotNull(accepted);
            try (NativeSocket peer = accepted) {
                if (!connected) {
                    assertTrue(client.finishConnect(bound));
                }
                assertEquals(client.localAddress(), peer.remoteAddress());
                client.setIntOption(LibC.IPPROTO_TCP, LibC.TCP_NODELAY, 1, "TCP_NODELAY");
                assertEquals(1, client.getIntOption(LibC.IPPROTO_TCP, LibC.TCP_NODELAY, "TCP_NODELAY"));
                client.setLinger(3);
                assertEquals(3, client.getLinger());

                byte[] hello = "hello over FFM".getBytes(StandardCharsets.US_ASCII);
                MemorySegment out = arena.allocateFrom(JAVA_BYTE, hello);
                assertEquals(hello.length, client.write(out.address(), hello.length));
                MemorySegment in = arena.allocate(64);
                int n = (int) waitFor(() -> {
                    try {
                        return peer.read(in.address(), 64);
                    } catch (NativeIoException e) {
                        throw new RuntimeException(e);
                    }
                });
                assertArrayEquals(hello, in.asSlice(0, n).toArray(JAVA_BYTE));
                assertEquals(0, peer.read(in.address(), 64), "would block");

                client.shutdown(false, true);
                assertTrue(client.isOutputShutdown());
                assertEquals(NativeSocket.EOF, waitFor(() -> {
                    try {
                        return peer.read(in.address(), 64);
                    } catch (NativeIoException e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
        }
    }

    @Test
    void connectingToAClosedPortIsAConnectException() throws Exception {
        InetSocketAddress unused;
        try (NativeSocket probe = NativeSocket.newStreamSocket()) {
            probe.bind(LOOPBACK);
            unused = probe.localAddress(); // bound but not listening: connections are refused
            try (NativeSocket client = NativeSocket.newStreamSocket()) {
                ConnectException e = assertThrows(ConnectException.class, () -> {
                    if (!client.connect(unused)) {
                        for (int i = 0; i < 2000 && !client.finishConnect(unused); i++) {
                            Thread.sleep(1);
                        }
                    }
                });
                assertTrue(e.getMessage().contains("Connection refused"), e.getMessage());
            }
        }
    }

    @Test
    void closeIsIdempotent() throws Exception {
        NativeSocket socket = NativeSocket.newStreamSocket();
        socket.close();
        socket.close();
        assertFalse(socket.isOpen());
        assertThrows(java.nio.channels.ClosedChannelException.class, socket::ensureOpen);
    }
}
