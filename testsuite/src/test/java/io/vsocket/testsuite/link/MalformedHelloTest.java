package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.handshake.Hello;
import io.vsocket.handshake.HelloException;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client that sends the vsocket marker and then breaks the hello: a malformed choice, a
 * truncated one, a token the server never issued. Each time the server closes that connection with
 * an exception that says what was wrong, and goes on serving the next client.
 */
@Timeout(60)
class MalformedHelloTest {
    private static final List<VSocketLink> DEFAULT = List.of(VSocketLink.SHM, VSocketLink.TCP);
    private static EventLoopGroup group;
    private static Channel server;
    private static final LinkedBlockingQueue<Throwable> serverErrors = new LinkedBlockingQueue<>();

    @BeforeAll
    static void start() throws InterruptedException {
        group = new VSocketEventLoopGroup(2);
        server = Peers.vsocketServer(group, DEFAULT, new ChannelInboundHandlerAdapter() {
            @Override
            public boolean isSharable() {
                return true;
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                serverErrors.add(cause);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.writeAndFlush(msg);
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        server.close().sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Connects, sends the marker, reads the server's offer; returns the socket and the offer's token. */
    private static Socket connectAndReadOffer(byte[] offerOut) throws IOException {
        Socket socket = new Socket();
        // As the transport's own clients that send the marker mark their SYN to a loopback server (an
        // unmarked one is a plain client's, served over tcp at accept).
        socket.setTrafficClass(Hello.SYN_MARK_HELLO);
        socket.connect(server.localAddress(), 5000);
        socket.setSoTimeout(10_000);
        socket.sendUrgentData('v');
        InputStream in = socket.getInputStream();
        byte[] header = in.readNBytes(12);
        assertEquals(12, header.length, "the server answers the marker with its offer");
        assertEquals('v', header[1]);
        int length = (header[10] & 0xff) << 8 | header[11] & 0xff;
        byte[] body = in.readNBytes(length);
        System.arraycopy(body, 0, offerOut, 0, 16);
        return socket;
    }

    private static void assertServerClosed(Socket socket) throws IOException {
        assertEquals(-1, socket.getInputStream().read(), "the server closes a connection whose hello is broken");
    }

    private static Throwable nextServerError() throws InterruptedException {
        Throwable error = serverErrors.poll(10, TimeUnit.SECONDS);
        assertNotNull(error, "the server reports why it closed the connection");
        return error;
    }

    private static void assertServerStillServes() throws Exception {
        Peers.Collector collector = new Peers.Collector(5);
        Channel client = Peers.vsocketClient(group, DEFAULT, collector).connect(server.localAddress()).sync()
                .channel();
        client.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer("alive".getBytes()));
        collector.done.get(10, TimeUnit.SECONDS);
        assertEquals(VSocketLink.SHM, Peers.awaitLink(client, VSocketLink.SHM));
        assertEquals("alive", collector.text());
        client.close().sync();
    }

    @Test
    void aChoiceWithABadVersionIsRefused() throws Exception {
        byte[] token = new byte[16];
        try (Socket socket = connectAndReadOffer(token)) {
            OutputStream out = socket.getOutputStream();
            out.write(new byte[] {0x00, 'v', 'S', 'K', (byte) 0xD7, 0x1E, 0x5A, (byte) 0xA5, 9, 2, 0, 21});
            out.flush();
            assertServerClosed(socket);
        }
        Throwable error = nextServerError();
        assertInstanceOf(HelloException.class, error);
        assertTrue(error.getMessage().contains("version 9"), error.getMessage());
        assertServerStillServes();
    }

    @Test
    void aTruncatedChoiceIsRefused() throws Exception {
        byte[] token = new byte[16];
        try (Socket socket = connectAndReadOffer(token)) {
            OutputStream out = socket.getOutputStream();
            out.write(new byte[] {0x00, 'v', 'S', 'K', (byte) 0xD7});
            out.flush();
            socket.shutdownOutput();
            assertServerClosed(socket);
        }
        Throwable error = nextServerError();
        assertTrue(error.getMessage().contains("in the middle of the vsocket hello"), error.getMessage());
        assertServerStillServes();
    }

    @Test
    void aChoiceWithAForeignTokenIsRefused() throws Exception {
        byte[] token = new byte[16];
        try (Socket socket = connectAndReadOffer(token)) {
            token[0] ^= 1;
            OutputStream out = socket.getOutputStream();
            byte[] hello = new byte[12 + 16 + 1 + 4 + 2]; // token, link, ring size, an empty part
            System.arraycopy(new byte[] {0x00, 'v', 'S', 'K', (byte) 0xD7, 0x1E, 0x5A, (byte) 0xA5,
                    (byte) Hello.VERSION, 2, 0, 23}, 0, hello, 0, 12);
            System.arraycopy(token, 0, hello, 12, 16);
            hello[28] = (byte) VSocketLink.TCP.ordinal();
            hello[31] = 0x10; // ring size 4096
            out.write(hello);
            out.flush();
            assertServerClosed(socket);
        }
        Throwable error = nextServerError();
        assertTrue(error.getMessage().contains("token"), error.getMessage());
        assertServerStillServes();
    }

    @Test
    void aMarkerFollowedBySilenceIsNotServedForever() throws Exception {
        byte[] token = new byte[16];
        try (Socket socket = connectAndReadOffer(token)) {
            // Say nothing: after its patience (ten hello timeouts) the server treats this as a client that
            // gave up on the hello and serves it in plain tcp, so an echo now comes back.
            Thread.sleep(2500);
            socket.getOutputStream().write("plain".getBytes());
            byte[] echo = socket.getInputStream().readNBytes(5);
            assertEquals("plain", new String(echo));
        }
        assertServerStillServes();
    }
}
