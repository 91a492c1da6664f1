package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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

            try (NativeSocket peer = connectAndAccept(server, client, bound)) {
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

    /**
     * A failed connect is of the kind Netty's epoll transport throws (NIO's differs: ENETUNREACH is a
     * plain SocketException there), so that an application's retry or fallback recognises it: no route to the host or its network a {@link NoRouteToHostException},
     * every other errno a {@link ConnectException}; the message names the address and the errno, the
     * cause carries it. (A host with no route was a plain {@code IOException}: helper-79's probe.)
     */
    @Test
    void aFailedConnectIsAConnectExceptionOrNoRouteToHost() {
        InetSocketAddress remote = new InetSocketAddress("192.0.2.80", 7899);
        for (int errno : new int[] {LibC.EHOSTUNREACH, LibC.ENETUNREACH}) {
            SocketException e = NativeSocket.connectException(remote, errno);
            assertInstanceOf(NoRouteToHostException.class, e, "errno " + errno);
            assertTrue(e.getMessage().contains("192.0.2.80:7899"), e.getMessage());
            assertEquals(errno, assertInstanceOf(NativeIoException.class, e.getCause()).errno());
        }
        for (int errno : new int[] {LibC.ECONNREFUSED, LibC.ETIMEDOUT, LibC.EACCES, LibC.EADDRNOTAVAIL}) {
            SocketException e = NativeSocket.connectException(remote, errno);
            assertEquals(ConnectException.class, e.getClass(), "errno " + errno);
            assertEquals(errno, assertInstanceOf(NativeIoException.class, e.getCause()).errno());
        }
    }

    /** A stream socket's connect to the broadcast address fails at once with ENETUNREACH: no route. */
    @Test
    void connectingWhereNoRouteLeadsIsNoRouteToHost() throws Exception {
        try (NativeSocket client = NativeSocket.newStreamSocket()) {
            NoRouteToHostException e = assertThrows(NoRouteToHostException.class,
                    () -> client.connect(new InetSocketAddress("255.255.255.255", 9)));
            assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
        }
    }

    /** A port in use is a {@link java.net.BindException}, as NIO throws, with the errno on its cause. */
    @Test
    void bindingAPortInUseIsABindException() throws Exception {
        try (NativeSocket first = NativeSocket.newStreamSocket(); NativeSocket second = NativeSocket.newStreamSocket()) {
            first.bind(LOOPBACK);
            first.listen(1);
            java.net.BindException e = assertThrows(java.net.BindException.class, () -> second.bind(first.localAddress()));
            assertTrue(e.getMessage().contains("Address already in use"), e.getMessage());
            assertTrue(e.getCause() instanceof NativeIoException cause && cause.errno() == LibC.EADDRINUSE,
                    String.valueOf(e.getCause()));
        }
    }

    /**
     * sendfile(2) from a file at an offset: the bytes arrive as they lie in the file, the file's own
     * offset does not matter, the end of the file gives EOF, and a full socket buffer gives 0 (would
     * block) rather than an error.
     */
    @Test
    void sendFileSendsFromAnOffsetAndTellsTheFilesEndFromAFullSocket() throws Exception {
        int size = 3 * 4096 + 123;
        try (Arena arena = Arena.ofConfined();
             MemFd file = MemFd.create("sendfile-test", size);
             MappedRegion content = file.map();
             NativeSocket server = NativeSocket.newStreamSocket();
             NativeSocket client = NativeSocket.newStreamSocket()) {
            for (int i = 0; i < size; i++) {
                content.segment().set(JAVA_BYTE, i, (byte) (i * 31 + 7));
            }
            server.bind(LOOPBACK);
            server.listen(1);
            try (NativeSocket peer = connectAndAccept(server, client, server.localAddress())) {
                int offset = 1000;
                assertEquals(size - offset, client.sendFile(file.fd(), offset, size), "up to the end of the file");
                assertEquals(NativeSocket.EOF, client.sendFile(file.fd(), size, 10), "nothing at the end of the file");
                MemorySegment in = arena.allocate(size);
                int got = 0;
                while (got < size - offset) {
                    int at = got;
                    got += (int) waitFor(() -> {
                        try {
                            return peer.read(in.address() + at, size - at);
                        } catch (NativeIoException e) {
                            throw new RuntimeException(e);
                        }
                    });
                }
                assertEquals(size - offset, got);
                for (int i = 0; i < got; i++) {
                    if (in.get(JAVA_BYTE, i) != (byte) ((i + offset) * 31 + 7)) {
                        throw new AssertionError("byte " + i + " differs");
                    }
                }
                // Nobody reads: the socket buffers fill, and then sendfile would block.
                long sent = 0;
                long n;
                while ((n = client.sendFile(file.fd(), 0, size)) > 0) {
                    sent += n;
                }
                assertEquals(0, n);
                assertTrue(sent > 0, "the buffers took something before they filled");
                NativeIoException e = assertThrows(NativeIoException.class, () -> client.sendFile(-1, 0, size),
                        "a bad file descriptor is an error, not a would-block");
                assertTrue(e.getMessage().contains("sendfile"), e.getMessage());
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

    /**
     * A closed socket never reaches its old descriptor number, which the next descriptor opened in
     * the process (on any thread) takes: its calls fail with {@code EBADF} instead of acting on the
     * socket that holds the number now. (A channel's read loop once read on after its handler closed
     * it, and took another connection's bytes.)
     */
    @Test
    void aClosedSocketLeavesTheSocketThatTookItsNumberAlone() throws Exception {
        try (Arena arena = Arena.ofConfined();
             NativeSocket server = NativeSocket.newStreamSocket();
             NativeSocket client = NativeSocket.newStreamSocket()) {
            server.bind(LOOPBACK);
            server.listen(16);
            try (NativeSocket peer = connectAndAccept(server, client, server.localAddress())) {
                MemorySegment buf = arena.allocate(64);
                assertEquals(4, client.write(buf.address(), 4));
                NativeSocket stale = NativeSocket.newStreamSocket();
                int number = stale.fd();
                stale.close();
                // The lowest free number from the closed one up: the closed one, as a new socket would get it.
                MemorySegment errno = io.vsocket.ffm.Downcalls.threadErrnoState();
                int reused = LibC.fcntl(errno, peer.fd(), LibC.F_DUPFD_CLOEXEC, number);
                try {
                    org.junit.jupiter.api.Assumptions.assumeTrue(reused == number,
                            "another thread took the number first (" + reused + " instead of " + number + ")");
                    for (org.junit.jupiter.api.function.Executable call : java.util.List.<org.junit.jupiter.api.function.Executable>of(
                            () -> stale.read(buf.address(), 64), () -> stale.peek(buf.address(), 64), stale::readUrgent,
                            () -> stale.write(buf.address(), 4), () -> stale.writev(buf, 0), () -> stale.sendUrgent((byte) 1),
                            () -> stale.sendFile(0, 0, 1), stale::accept, () -> stale.receiveFrom(buf.address(), 64),
                            () -> stale.sendTo(buf.address(), 4, server.localAddress()))) {
                        assertEquals(LibC.EBADF, assertThrows(NativeIoException.class, call).errno());
                    }
                    assertEquals(4, peer.read(buf.address(), 64), "the bytes waiting at the socket now at that number");
                    assertEquals(0, client.read(buf.address(), 64), "nothing written through the closed socket");
                } finally {
                    if (reused >= 0) {
                        FileDescriptors.closeQuietly(reused);
                    }
                }
            }
        }
    }

    /**
     * Connects {@code client} to the listening {@code server} at {@code address} and returns the
     * accepted end (polling the non-blocking accept for up to two seconds), the client's connect
     * finished.
     */
    static NativeSocket connectAndAccept(NativeSocket server, NativeSocket client, InetSocketAddress address)
            throws Exception {
        boolean connected = client.connect(address);
        NativeSocket accepted = null;
        for (int i = 0; i < 2000 && accepted == null; i++) {
            accepted = server.accept();
            Thread.sleep(1);
        }
        assertNotNull(accepted);
        try {
            if (!connected) {
                assertTrue(client.finishConnect(address));
            }
        } catch (Throwable t) {
            accepted.close();
            throw t;
        }
        return accepted;
    }
}
