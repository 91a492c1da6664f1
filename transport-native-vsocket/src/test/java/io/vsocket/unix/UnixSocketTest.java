package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.ConnectException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Abstract-namespace unix sockets: connect/accept, bytes with descriptors, credentials, errors. */
class UnixSocketTest {

    private static String randomName() {
        return "vsocket-test-" + UUID.randomUUID();
    }

    private static UnixSocket acceptOne(UnixSocket server) throws Exception {
        for (int i = 0; i < 2000; i++) {
            UnixSocket s = server.accept();
            if (s != null) {
                return s;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("no connection accepted");
    }

    private static UnixSocket.Received receiveOne(UnixSocket socket, int maxBytes, int maxFds) throws Exception {
        for (int i = 0; i < 2000; i++) {
            UnixSocket.Received r = socket.receive(maxBytes, maxFds);
            if (r != null) {
                return r;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("nothing received");
    }

    @Test
    void bytesAndDescriptorsTravelAndCredentialsAreTheCaller() throws Exception {
        String name = randomName();
        try (UnixSocket server = UnixSocket.listen(name, 4);
             MemFd memfd = MemFd.create("vsocket-test-shared", 8192);
             MappedRegion region = memfd.map();
             EventFd eventFd = EventFd.create()) {
            assertNull(server.accept(), "nothing pending yet");
            assertTrue(server.toString().contains("@" + name), server.toString());
            byte[] shared = "shared over memfd".getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(MemorySegment.ofArray(shared), 0, region.segment(), 100, shared.length);

            try (UnixSocket client = UnixSocket.connect(name);
                 UnixSocket peer = acceptOne(server)) {
                assertNull(peer.receive(64, 4), "nothing pending: would block");

                byte[] hello = "hello with fds".getBytes(StandardCharsets.US_ASCII);
                client.send(hello, memfd.fd(), eventFd.fd());
                UnixSocket.Received received = receiveOne(peer, 64, 4);
                assertFalse(received.isEndOfStream());
                assertArrayEquals(hello, received.data());
                assertEquals(2, received.fds().length, received.toString());
                for (int fd : received.fds()) {
                    assertTrue(FileDescriptors.isCloseOnExec(fd), "MSG_CMSG_CLOEXEC");
                    assertTrue(fd != memfd.fd() && fd != eventFd.fd(), "the receiver gets its own descriptors");
                }

                try (MemFd adopted = MemFd.adopt(received.fds()[0]);
                     MappedRegion view = adopted.map()) {
                    assertEquals(8192, adopted.size());
                    assertArrayEquals(shared, view.segment().asSlice(100, shared.length).toArray(JAVA_BYTE));
                }

                int receivedEventFd = received.fds()[1];
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment value = arena.allocate(JAVA_LONG);
                    value.set(JAVA_LONG, 0, 5);
                    assertEquals(8, LibC.write(Downcalls.threadErrnoState(), receivedEventFd, value, 8));
                    assertEquals(5, eventFd.drain(), "a signal on the received eventfd reaches the sender's");
                } finally {
                    FileDescriptors.closeQuietly(receivedEventFd);
                }

                assertNull(peer.receive(64, 4), "drained");

                UnixSocket.PeerCredentials serverSees = peer.peerCredentials();
                UnixSocket.PeerCredentials clientSees = client.peerCredentials();
                assertEquals(UnixSocket.currentUid(), serverSees.uid());
                assertEquals(ProcessHandle.current().pid(), serverSees.pid());
                assertEquals(serverSees, clientSees, "same process on both ends");

                // Plain bytes, no descriptors, both ways.
                peer.send(new byte[] {1, 2, 3});
                UnixSocket.Received back = receiveOne(client, 64, 0);
                assertArrayEquals(new byte[] {1, 2, 3}, back.data());
                assertEquals(0, back.fds().length);

                client.close();
                UnixSocket.Received eof = receiveOne(peer, 64, 4);
                assertTrue(eof.isEndOfStream(), eof.toString());

                client.close();
                assertFalse(client.isOpen());
                assertThrows(ClosedChannelException.class, () -> client.send(new byte[] {1}));
                assertThrows(ClosedChannelException.class, () -> client.receive(1, 0));
                assertThrows(ClosedChannelException.class, client::peerCredentials);
                assertThrows(IllegalStateException.class, client::fd);
            }
        }
    }

    @Test
    void tooManyDescriptorsAreClosedAndReported() throws Exception {
        String name = randomName();
        try (UnixSocket server = UnixSocket.listen(name, 4);
             UnixSocket client = UnixSocket.connect(name);
             UnixSocket peer = acceptOne(server);
             EventFd a = EventFd.create();
             EventFd b = EventFd.create();
             EventFd c = EventFd.create()) {
            client.send(new byte[] {42}, a.fd(), b.fd(), c.fd());
            IOException e = null;
            for (int i = 0; i < 2000 && e == null; i++) {
                try {
                    assertNull(peer.receive(16, 1));
                    Thread.sleep(1);
                } catch (IOException thrown) {
                    e = thrown;
                }
            }
            assertNotNull(e);
            assertTrue(e.getMessage().contains("the peer sent 3 descriptors, more than 1") && e.getMessage().contains("@" + name),
                    e.getMessage());
        }
    }

    /**
     * A peer's descriptors are never released on the thread that receives or closes: the kernel runs a
     * file's last close there, and a TCP socket set to linger with bytes nobody reads holds it a minute.
     */
    @Test
    void aPeersLingeringSocketHoldsUpNeitherAReceiveThatRefusesItNorAClose() throws Exception {
        String name = randomName();
        try (UnixSocket server = UnixSocket.listen(name, 4); LingeringTcp lingering = LingeringTcp.open();
             LingeringTcp another = LingeringTcp.open()) {
            UnixSocket client = UnixSocket.connect(name);
            UnixSocket refusing = acceptOne(server);
            int fd = lingering.detach();
            client.send(new byte[] {1}, fd, fd); // two where one is asked for
            client.send(new byte[] {2}, fd); // and one left unread
            FileDescriptors.closeQuietly(fd);
            client.close();
            IOException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                for (int i = 0; i < 2000; i++) {
                    try {
                        refusing.receive(1, 1);
                    } catch (IOException refused) {
                        return refused;
                    }
                    Thread.sleep(1);
                }
                return null;
            }, "the receive waited on the peer's lingering socket");
            assertNotNull(e, "two descriptors where one was asked for are refused");
            assertTimeoutPreemptively(Duration.ofSeconds(10), refusing::close, "the close waited on the queued socket");

            // A listener's pending connection, its message unread, when the listener closes.
            UnixSocket late = UnixSocket.connect(name);
            int again = another.detach();
            late.send(new byte[] {3}, again);
            FileDescriptors.closeQuietly(again);
            late.close();
            assertTimeoutPreemptively(Duration.ofSeconds(10), server::close, "the listener's close waited");
        }
    }

    @Test
    void connectingToANameNobodyListensOnNamesIt() {
        String name = randomName();
        ConnectException e = assertThrows(ConnectException.class, () -> UnixSocket.connect(name));
        assertTrue(e.getMessage().contains("@" + name), e.getMessage());
        assertTrue(e.getCause() instanceof NativeIoException cause && cause.errno() == LibC.ECONNREFUSED,
                String.valueOf(e.getCause()));
    }

    @Test
    void aNameCanBeBoundOnceAndIsFreedOnClose() throws Exception {
        String name = randomName();
        try (UnixSocket first = UnixSocket.listen(name, 1)) {
            NativeIoException e = assertThrows(NativeIoException.class, () -> UnixSocket.listen(name, 1));
            assertEquals(LibC.EADDRINUSE, e.errno());
            assertTrue(e.getMessage().contains("@" + name), e.getMessage());
        }
        UnixSocket.listen(name, 1).close(); // the abstract name went away with its socket
    }

    @Test
    void namesAndArgumentsAreChecked() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.listen("", 1));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.connect("x".repeat(UnixSocket.MAX_NAME_BYTES + 1)));
        String longest = "y".repeat(UnixSocket.MAX_NAME_BYTES - 36) + UUID.randomUUID();
        try (UnixSocket server = UnixSocket.listen(longest, 1);
             UnixSocket client = UnixSocket.connect(longest)) {
            assertThrows(IllegalArgumentException.class, () -> client.send(new byte[0], 0));
            assertThrows(IllegalArgumentException.class, () -> client.receive(0, 0));
            assertNotNull(acceptOne(server));
        }
    }
}
