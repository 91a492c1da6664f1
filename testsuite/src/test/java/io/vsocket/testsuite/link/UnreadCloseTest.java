package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
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
