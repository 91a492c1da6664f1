package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.unix.NativeSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A vsocket client at its default links on the host of a plain server (a stock Redis, an HTTP
 * sidecar) that closes a connection without ever reading from it — an idle connection timed out, a
 * server-first refusal ("421 busy", Redis' "max number of clients") — sees a clean end of stream,
 * as over epoll. Such a client's hello used to be one urgent byte after the connect, which the plain
 * server never read: its kernel turned the close into a reset ("Connection reset by peer", 10 of 10
 * idle closes and 8 of 10 refusals in a probe, against an epoll server). The client now marks its
 * SYN instead ({@code Hello.SYN_MARK}), which a vsocket server reads at accept, and a plain server
 * never sees. The plain server here is the bare socket calls a C server makes (a JDK socket's close
 * happened not to reset), on a thread of its own: accept, perhaps a greeting, close — never a read.
 */
@Timeout(120)
class PlainServerCloseTest {
    private static final InetSocketAddress LOCALHOST = new InetSocketAddress("127.0.0.1", 0);
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    /**
     * A plain server that never reads: each connection it accepts gets {@code greeting} (if any) and is
     * closed {@code closeAfterMillis} later. Closed with the returned handle.
     */
    private static final class NeverReadingServer implements AutoCloseable {
        final NativeSocket listener = NativeSocket.newStreamSocket();
        final InetSocketAddress address;
        final Thread acceptor;
        volatile boolean stopped;

        NeverReadingServer(byte[] greeting, long closeAfterMillis) throws Exception {
            listener.bind(LOCALHOST);
            listener.listen(64);
            address = listener.localAddress();
            acceptor = new Thread(() -> {
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment bytes = arena.allocate(Math.max(1, greeting.length));
                    bytes.copyFrom(MemorySegment.ofArray(greeting));
                    while (!stopped) {
                        NativeSocket s = listener.accept();
                        if (s == null) {
                            Thread.sleep(1);
                            continue;
                        }
                        if (greeting.length > 0) {
                            s.write(bytes.address(), greeting.length);
                        }
                        Thread.sleep(closeAfterMillis);
                        s.close();
                    }
                } catch (Exception e) {
                    if (!stopped) {
                        e.printStackTrace();
                    }
                }
            }, "never-reading-server");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        @Override
        public void close() throws Exception {
            stopped = true;
            acceptor.join(5000);
            listener.close();
        }
    }

    /** What a client's pipeline saw: the bytes, and the exception if one came before the end. */
    private static final class Seen extends ChannelInboundHandlerAdapter {
        final StringBuilder text = new StringBuilder();
        final CompletableFuture<Throwable> inactive = new CompletableFuture<>();
        volatile Throwable error;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            text.append(buf.toString(StandardCharsets.US_ASCII));
            buf.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (error == null) {
                error = cause;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            inactive.complete(error);
        }
    }

    private static Channel client(InetSocketAddress server, Seen seen) throws InterruptedException {
        return new Bootstrap().group(group).channel(VSocketSocketChannel.class).handler(seen)
                .connect(server).sync().channel();
    }

    @Test
    void anIdleConnectionThePlainServerClosesEndsCleanly() throws Exception {
        try (NeverReadingServer server = new NeverReadingServer(new byte[0], 50)) {
            for (int round = 0; round < 10; round++) {
                Seen seen = new Seen();
                client(server.address, seen);
                Throwable error = seen.inactive.get(10, TimeUnit.SECONDS);
                assertNull(error, "round " + round + ": the client saw " + error + " where the server closed cleanly");
            }
        }
    }

    @Test
    void aPlainServersRefusalIsReadWholeAndEndsCleanly() throws Exception {
        try (NeverReadingServer server = new NeverReadingServer("421 busy\r\n".getBytes(StandardCharsets.US_ASCII), 0)) {
            for (int round = 0; round < 10; round++) {
                Seen seen = new Seen();
                client(server.address, seen);
                Throwable error = seen.inactive.get(10, TimeUnit.SECONDS);
                assertNull(error, "round " + round + ": the client saw " + error + " where the server closed cleanly");
                assertEquals("421 busy\r\n", seen.text.toString(), "round " + round);
            }
        }
    }

    /**
     * A SYN marked as only a loopback client marks it, from another address (a connection forwarded to a
     * container's published port, or a class set on the way): its client sends no urgent marker, so the
     * server serves it as a plain client at once — a server-first greeting goes out without waiting for
     * the hello timeout (30 s here), and nothing of an offer precedes it.
     */
    @Test
    void aMarkedSynFromAnotherAddressIsServedAsAPlainClientsAtOnce() throws Exception {
        java.net.InetAddress other = null;
        for (java.net.NetworkInterface nif : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
            for (java.net.InetAddress a : java.util.Collections.list(nif.getInetAddresses())) {
                if (a instanceof java.net.Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress() && nif.isUp()) {
                    other = a;
                }
            }
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(other != null, "this host has an IPv4 address besides loopback");
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM, VSocketLink.TCP), new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                ctx.writeAndFlush(Unpooled.copiedBuffer("220 ready\r\n", StandardCharsets.US_ASCII));
            }

            @Override
            public boolean isSharable() {
                return true;
            }
        }).childOption(io.vsocket.channel.VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 30_000)
                .bind(new InetSocketAddress("0.0.0.0", 0)).sync().channel();
        NativeSocket client = NativeSocket.newStreamSocket();
        try (Arena arena = Arena.ofConfined()) {
            client.setIntOption(io.vsocket.ffm.libc.LibC.IPPROTO_IP, io.vsocket.ffm.libc.LibC.IP_TOS, 59 << 2, "IP_TOS");
            InetSocketAddress to = new InetSocketAddress(other, ((InetSocketAddress) server.localAddress()).getPort());
            if (!client.connect(to)) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (!client.isEstablished() && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
            }
            MemorySegment buf = arena.allocate(64);
            StringBuilder got = new StringBuilder();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (got.length() < 11 && System.nanoTime() < deadline) {
                int n = client.read(buf.address(), 64);
                if (n > 0) {
                    got.append(new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII));
                } else {
                    Thread.sleep(5);
                }
            }
            assertEquals("220 ready\r\n", got.toString(), "the greeting, at once and alone");
        } finally {
            client.close();
            server.close().sync();
        }
    }

    /**
     * The SYN's mark is the handshake's only: once connected, the client's socket has the traffic class
     * its application set (or none), and its connection to a vsocket server still moves onto shm.
     */
    @Test
    void theClientsOwnTrafficClassIsBackOnceConnectedAndTheConnectionMovesOntoShm() throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM, VSocketLink.TCP), Peers.Echo.INSTANCE)
                .bind(LOCALHOST).sync().channel();
        try {
            for (int tos : new int[] {0, 0x28}) {
                Peers.Collector collector = new Peers.Collector(5);
                Bootstrap b = new Bootstrap().group(group).channel(VSocketSocketChannel.class).handler(collector);
                if (tos != 0) {
                    b.option(ChannelOption.IP_TOS, tos);
                }
                Channel client = b.connect(server.localAddress()).sync().channel();
                assertEquals(tos, (int) client.config().getOption(ChannelOption.IP_TOS), "the traffic class after the connect");
                assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM), "the connection moved onto shm");
                client.writeAndFlush(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII));
                collector.done.get(10, TimeUnit.SECONDS);
                assertEquals("hello", collector.text());
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }
}
