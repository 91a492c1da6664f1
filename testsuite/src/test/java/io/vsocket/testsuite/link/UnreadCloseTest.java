package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A side that closes with its peer's bytes unread resets the connection, as a socket closed with
 * bytes in its receive queue does: the peer learns that its last bytes were not taken ("Connection
 * reset by peer") instead of reading a clean end — Lettuce and Reactor Netty tell the two apart (a
 * probe: on shm the peer saw a clean end, 5 of 5, where epoll's saw the reset). A side that read
 * everything still closes cleanly.
 */
class UnreadCloseTest {
    private static EventLoopGroup serverGroup;
    private static EventLoopGroup clientGroup;

    @BeforeAll
    static void start() {
        serverGroup = new VSocketEventLoopGroup(1);
        clientGroup = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        serverGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aCloseWithThePeersBytesUnreadResetsTheConnection(VSocketLink link) throws Exception {
        IOException error = closeAfter(link, false);
        assertInstanceOf(IOException.class, error, "the peer saw a clean end where the close left its bytes unread");
        assertTrue(error.getMessage().contains("Connection reset by peer"), error.getMessage());
        // A deliberate reset is no death: the error must not send its reader looking for a crashed process.
        assertFalse(error.getMessage().contains("died"), error.getMessage());
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aCloseAfterReadingEverythingEndsCleanly(VSocketLink link) throws Exception {
        assertEquals(null, closeAfter(link, true), "the peer saw an error where the close read everything");
    }

    /**
     * At the default links on one host: the client's bytes go over tcp at once, the connection moves onto
     * shm a millisecond later, and the server, which never read those bytes (they lie in its socket),
     * closes: a reset too. (The ring's clean end hid the socket's reset: a clean end, 4 of 4 in a probe.)
     * One that read them all ({@code read}) closes cleanly.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aCloseWithBytesUnreadFromBeforeTheMoveOntoShmResetsTheConnection(boolean read) throws Exception {
        IOException error = closeAfter(null, read);
        if (read) {
            // The server read every byte: a clean end, as a socket's close with nothing unread.
            assertNull(error, "a reset where the close read everything");
            return;
        }
        assertInstanceOf(IOException.class, error, "the peer saw a clean end where the close left its bytes unread");
        assertTrue(error.getMessage().contains("Connection reset by peer"), error.getMessage());
    }

    /**
     * A reset that comes while the client's writes wait for room (its peer read nothing, then closed)
     * fails those writes with it and closes the channel without {@code exceptionCaught}, as epoll's,
     * whose error event flushes before it reads. Reactor Netty's premature close rests on that: a killed
     * server that read no upload gave its {@code PrematureCloseException} on epoll, the raw reset through
     * {@code exceptionCaught} on shm (helper-78's probe).
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"TCP", "SHM"})
    void aResetWhileWritesWaitFailsThoseWritesAsEpollsDoes(VSocketLink link) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = Peers.vsocketServer(serverGroup, List.of(link), new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                accepted.complete(ch);
            }
        }).childOption(ChannelOption.AUTO_READ, false).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Channel client = Peers.vsocketClient(clientGroup, List.of(link), watcher).connect(server.localAddress())
                    .sync().channel();
            assertEquals(link, Peers.awaitLink(client, link));
            Channel peer = accepted.get(10, TimeUnit.SECONDS);
            // More than the ring and both sockets' buffers take: the write waits for a reader that never comes.
            ChannelFuture write = client.writeAndFlush(Unpooled.wrappedBuffer(new byte[64 << 20]));
            Thread.sleep(300);
            assertFalse(write.isDone(), "the write waits for room: " + write.cause());
            peer.close().sync(); // its bytes unread: a reset
            assertTrue(write.await(10, TimeUnit.SECONDS), "the waiting write ends");
            IOException cause = assertInstanceOf(IOException.class, write.cause(), "the write failed with the reset");
            assertNull(watcher.seen.get(10, TimeUnit.SECONDS), "the reset reached the pipeline as an error caught");
            assertFalse(client.isOpen());
            assertTrue(cause.getMessage() != null && !cause.getMessage().isEmpty(), "the failure says what happened");
        } finally {
            server.close().sync();
        }
    }

    /**
     * The client sends 64 KiB to a server that does not read them (or reads them all, {@code read}),
     * which then closes: what the client's pipeline saw before its channel went inactive, or null. Over
     * {@code link} once the connection is on it; or, {@code link} null, at the default links on one host,
     * the bytes sent at once (over tcp, before the move onto shm).
     */
    private static IOException closeAfter(VSocketLink link, boolean read) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Peers.Collector atServer = new Peers.Collector(64 << 10);
        ChannelInitializer<Channel> init = new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(atServer);
                accepted.complete(ch);
            }
        };
        ServerBootstrap serverBootstrap = link == null
                ? new ServerBootstrap().group(serverGroup).channel(VSocketServerSocketChannel.class).childHandler(init)
                : Peers.vsocketServer(serverGroup, List.of(link), init);
        Channel server = serverBootstrap.childOption(ChannelOption.AUTO_READ, read)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            Peers.Watcher watcher = new Peers.Watcher();
            Bootstrap clientBootstrap = link == null
                    ? new Bootstrap().group(clientGroup).channel(VSocketSocketChannel.class).handler(watcher)
                    : Peers.vsocketClient(clientGroup, List.of(link), watcher);
            Channel client = clientBootstrap.connect(server.localAddress()).sync().channel();
            if (link == null) {
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[64 << 10])).sync();
                assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM), "the connection moved");
            } else {
                assertEquals(link, Peers.awaitLink(client, link));
            }
            Channel peer = accepted.get(10, TimeUnit.SECONDS);
            if (link != null) {
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[64 << 10])).sync();
            }
            if (read) {
                atServer.done.get(10, TimeUnit.SECONDS);
            } else if (link != null) {
                Thread.sleep(200); // (the bytes reach the server's ring or socket)
            }
            peer.close().sync();
            Throwable cause = watcher.seen.get(10, TimeUnit.SECONDS);
            return cause == null ? null : assertInstanceOf(IOException.class, cause);
        } finally {
            server.close().sync();
        }
    }
}
