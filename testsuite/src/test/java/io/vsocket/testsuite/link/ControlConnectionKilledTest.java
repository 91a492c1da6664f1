package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A connection whose bytes run over shm while its TCP connection is killed under it (as an
 * administrator's {@code ss -K}, a firewall's reset or a dying network namespace would): the TCP
 * connection is what the application connected and what the rest of the system sees, so both ends
 * learn of its end as they would on epoll — the channel closes with the socket's error (the killing
 * side {@code ECONNABORTED}, its peer the reset) — though the shared memory could have gone on.
 */
class ControlConnectionKilledTest {
    private static EventLoopGroup group;

    @BeforeAll
    static void startGroup() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stopGroup() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @Test
    void bothEndsOfABusyShmConnectionCloseWithTheSocketsErrorWhenItsTcpConnectionIsKilled() throws Exception {
        Peers.Collector serverSide = new Peers.Collector(Long.MAX_VALUE);
        Peers.Collector clientSide = new Peers.Collector(Long.MAX_VALUE);
        Channel server = listen(group, serverSide);
        Channel client = connectOverShm(server, clientSide);
        try {
            AtomicReference<Throwable> writeFailure = new AtomicReference<>();
            Thread flood = Peers.floodWhileActive(client, writeFailure);
            long before = 0;
            for (int i = 0; i < 500 && (before = serverSide.received()) < 1024 * 1024; i++) {
                Thread.sleep(2);
            }
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            String killed = kill(port);
            assumeTrue(killed.contains(":" + port), "ss -K killed nothing (the kernel lacks SOCK_DESTROY?): " + killed);

            clientSide.inactive.get(5, TimeUnit.SECONDS);
            serverSide.inactive.get(5, TimeUnit.SECONDS);
            flood.join(5000);
            // The killing side learns it from a read (exceptionCaught) or from the write it was making.
            Throwable clientError = clientSide.error.getNow(null);
            assertInstanceOf(IOException.class, clientError != null ? clientError : writeFailure.get(),
                    "the client's end came with an error");
            IOException serverError = assertInstanceOf(IOException.class, serverSide.error.get(1, TimeUnit.SECONDS));
            assertContains(serverError, "reset by peer");
        } finally {
            client.close().sync();
            server.close().sync();
        }
    }

    /**
     * The same with the server's loop held busy while the client's socket is killed and its channel
     * closes: when the server's loop comes back, the ring and the reset wait for it together, and
     * whichever it looks at first, the server must not read the ring's end as a clean end of stream —
     * the client's bytes were cut off, and the killed socket ends its link as a reset.
     */
    @Test
    void theServerOfAKilledConnectionSeesAResetEvenWhenItLooksAtTheRingFirst() throws Exception {
        EventLoopGroup serverGroup = new VSocketEventLoopGroup(1);
        try {
            Peers.Collector serverSide = new Peers.Collector(Long.MAX_VALUE);
            Peers.Collector clientSide = new Peers.Collector(Long.MAX_VALUE);
            Channel server = listen(serverGroup, serverSide);
            Channel client = connectOverShm(server, clientSide);
            try {
                client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[4096])).sync();
                for (int i = 0; i < 500 && serverSide.received() < 4096; i++) {
                    Thread.sleep(2);
                }
                assertEquals(4096, serverSide.received(), "the server read the client's first bytes");
                java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
                java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
                serverGroup.next().execute(() -> {
                    held.countDown();
                    try {
                        release.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                assertTrue(held.await(5, TimeUnit.SECONDS), "the server's loop is held");
                int port = ((InetSocketAddress) server.localAddress()).getPort();
                String killed = kill(port);
                assumeTrue(killed.contains(":" + port), "ss -K killed nothing (the kernel lacks SOCK_DESTROY?): " + killed);
                clientSide.inactive.get(5, TimeUnit.SECONDS);
                release.countDown();

                serverSide.inactive.get(5, TimeUnit.SECONDS);
                Throwable serverError = serverSide.error.get(1, TimeUnit.SECONDS);
                assertInstanceOf(IOException.class, serverError, "the server's end came with an error, not a clean end of stream");
            } finally {
                client.close().sync();
                server.close().sync();
            }
        } finally {
            serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** A server on {@code serverGroup} taking shm and tcp, its connections' bytes to {@code serverSide}. */
    private static Channel listen(EventLoopGroup serverGroup, Peers.Collector serverSide) throws InterruptedException {
        return Peers.vsocketServer(serverGroup, List.of(VSocketLink.SHM, VSocketLink.TCP), serverSide)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    /** A client of {@code server} on the test's group, once its connection moved onto shm. */
    private static Channel connectOverShm(Channel server, Peers.Collector clientSide) throws InterruptedException {
        Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM, VSocketLink.TCP), clientSide)
                .connect(server.localAddress()).sync().channel();
        assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM));
        return client;
    }

    /** Kills the client's side of the connection to {@code port} with {@code ss -K}; what ss listed. */
    private static String kill(int port) throws IOException, InterruptedException {
        Process ss = new ProcessBuilder("ss", "-K", "-t", "dst", "127.0.0.1", "dport", "=", ":" + port)
                .redirectErrorStream(true).start();
        String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        ss.waitFor(10, TimeUnit.SECONDS);
        return out;
    }

    private static void assertContains(Throwable t, String text) {
        String message = String.valueOf(t.getMessage()).toLowerCase(java.util.Locale.ROOT);
        if (!message.contains(text)) {
            throw new AssertionError("expected \"" + text + "\" in " + t, t);
        }
    }
}
