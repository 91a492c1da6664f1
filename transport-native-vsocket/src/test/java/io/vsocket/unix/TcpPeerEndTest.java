package io.vsocket.unix;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernel's word on the other end of a loopback connection: held while a process has it (a
 * duplicate is enough), released once it is closed though the kernel still has it, absent when no
 * such socket exists; over IPv4 (v4-mapped on vsocket's IPv6 sockets) and IPv6.
 */
class TcpPeerEndTest {

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void aPeerIsHeldUntilItsLastDescriptorClosesThenReleased(String loopback) throws Exception {
        InetSocketAddress any = new InetSocketAddress(InetAddress.getByName(loopback), 0);
        try (NativeSocket listener = NativeSocket.newStreamSocket()) {
            listener.bind(any);
            listener.listen(4);
            NativeSocket client = NativeSocket.newStreamSocket();
            try (NativeSocket accepted = NativeSocketTest.connectAndAccept(listener, client, listener.localAddress())) {
                assertEquals(TcpPeerEnd.HELD, TcpPeerEnd.of(accepted), "the client, from the server's side");
                assertEquals(TcpPeerEnd.HELD, TcpPeerEnd.of(client), "the server, from the client's side");
                NativeSocket kept = client.duplicate();
                client.close();
                assertEquals(TcpPeerEnd.HELD, TcpPeerEnd.of(accepted), "a duplicate still holds it");
                kept.close();
                assertEquals(TcpPeerEnd.RELEASED, TcpPeerEnd.of(accepted), "closed: the kernel's alone");
            }
        }
    }

    /** A peer whose kernel still has bytes for this side (this side reads none) is sending; once all is read, held. */
    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void aPeerWithBytesStillToDeliverIsSendingUntilTheyAreRead(String loopback) throws Exception {
        InetSocketAddress any = new InetSocketAddress(InetAddress.getByName(loopback), 0);
        try (NativeSocket listener = NativeSocket.newStreamSocket();
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            listener.bind(any);
            listener.listen(4);
            try (NativeSocket client = NativeSocket.newStreamSocket();
                 NativeSocket accepted = NativeSocketTest.connectAndAccept(listener, client, listener.localAddress())) {
                java.lang.foreign.MemorySegment buf = arena.allocate(64 * 1024);
                long sent = 0;
                while (true) { // until the client's socket takes no more: this side's window is full
                    long n = client.write(buf.address(), (int) buf.byteSize());
                    if (n <= 0) {
                        break;
                    }
                    sent += n;
                }
                assertEquals(TcpPeerEnd.SENDING, TcpPeerEnd.of(accepted), "the client's kernel holds bytes of its");
                long read = 0;
                long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
                while (read < sent && System.nanoTime() < deadline) {
                    int n = accepted.read(buf.address(), (int) buf.byteSize());
                    read += Math.max(n, 0);
                }
                assertEquals(sent, read);
                Thread.sleep(50); // (the last acknowledgement)
                assertEquals(TcpPeerEnd.HELD, TcpPeerEnd.of(accepted), "all delivered");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void addressesNoSocketHasAreAbsent(String loopback) throws Exception {
        InetAddress ip = InetAddress.getByName(loopback);
        try (NativeSocket listener = NativeSocket.newStreamSocket()) {
            listener.bind(new InetSocketAddress(ip, 0));
            // A listening socket is no connected one: nothing runs from port 1 to it.
            assertEquals(TcpPeerEnd.ABSENT, TcpPeerEnd.lookUp(new InetSocketAddress(ip, 1), listener.localAddress()));
        }
    }
}
