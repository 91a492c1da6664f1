package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A vsocket client on the host of a plain server that speaks first and then waits for the client (an
 * SMTP or FTP greeting, a binary protocol's hello), whose greeting happens to begin as vsocket's hello
 * magic does — a zero byte, or more of it. The client took those bytes for the start of a vsocket offer
 * and held them until more came, which a server that waits for the client never sends: a client that
 * reads the greeting before it writes waited for good (helper-41's probe: still nothing after 30 s,
 * where epoll's client read it at once). Now bytes that stop short of the whole magic for a hello
 * timeout are the application's: a vsocket server writes its offer whole. At the default links (the
 * same-host move onto shm), with shm and tcp allowed, and pinned to tcp (which never looked).
 */
@Timeout(60)
class PlainServerGreetingTest {
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    static Stream<Arguments> greetings() {
        List<List<VSocketLink>> linkSets = Arrays.asList(null, List.of(VSocketLink.SHM, VSocketLink.TCP),
                List.of(VSocketLink.TCP));
        List<byte[]> greetings = List.of(new byte[] {0}, new byte[] {0, 'v', 'S', 'K'},
                "220 ready\r\n".getBytes(StandardCharsets.US_ASCII));
        return linkSets.stream().flatMap(links -> greetings.stream()
                .map(g -> Arguments.of((links == null ? "default" : links.toString()) + " links, greeting "
                        + HexFormat.of().formatHex(g), links, g)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("greetings")
    void theGreetingReachesAClientThatWaitsForItBeforeItWrites(String name, List<VSocketLink> links, byte[] greeting)
            throws Exception {
        try (ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            CompletableFuture<String> served = CompletableFuture.supplyAsync(() -> {
                try (Socket s = plain.accept()) {
                    s.getOutputStream().write(greeting);
                    s.getOutputStream().flush();
                    InputStream in = s.getInputStream();
                    String asked = new String(in.readNBytes(4), StandardCharsets.US_ASCII);
                    s.getOutputStream().write("OK".getBytes(StandardCharsets.US_ASCII));
                    return asked;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Received received = new Received();
            Bootstrap b = new Bootstrap().group(group).channel(VSocketSocketChannel.class).handler(received);
            if (links != null) {
                b.option(VSocketChannelOption.LINKS, links);
            }
            Channel client = b.connect(plain.getLocalSocketAddress()).sync().channel();
            try {
                // The client writes only once it has the whole greeting, as a protocol client does.
                assertEquals(HexFormat.of().formatHex(greeting),
                        HexFormat.of().formatHex(received.await(greeting.length)), "the greeting, before this side wrote");
                client.writeAndFlush(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII)).sync();
                assertEquals("ping", served.get(10, TimeUnit.SECONDS));
                byte[] all = received.await(greeting.length + 2);
                assertEquals("OK", new String(all, greeting.length, 2, StandardCharsets.US_ASCII), "the answer after it");
                assertEquals(VSocketLink.TCP, ((VSocketSocketChannel) client).link());
            } finally {
                client.close().sync();
            }
        }
    }

    /** What the client read, in order; {@link #await} waits for a given count (10 s). */
    private static final class Received extends ChannelInboundHandlerAdapter {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            byte[] b = new byte[buf.readableBytes()];
            buf.readBytes(b);
            ReferenceCountUtil.release(msg);
            synchronized (this) {
                bytes.writeBytes(b);
                notifyAll();
            }
        }

        synchronized byte[] await(int count) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (bytes.size() < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return bytes.toByteArray();
        }
    }
}
