package io.vsocket.testsuite.datagram;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.quic.InsecureQuicTokenHandler;
import io.netty.handler.codec.quic.Quic;
import io.netty.handler.codec.quic.QuicChannel;
import io.netty.handler.codec.quic.QuicClientCodecBuilder;
import io.netty.handler.codec.quic.QuicServerCodecBuilder;
import io.netty.handler.codec.quic.QuicSslContext;
import io.netty.handler.codec.quic.QuicSslContextBuilder;
import io.netty.handler.codec.quic.QuicStreamChannel;
import io.netty.handler.codec.quic.QuicStreamType;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import io.netty.util.ReferenceCountUtil;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real datagram application on the datagram channel: Netty's QUIC codec (quiche), whose
 * connections, TLS handshake, loss recovery and flow control all ride on the channel's
 * {@code DatagramPacket}s. Streams echoed with every byte checked, QUIC and vsocket at both ends
 * (the packets move onto shared memory once the peers have found each other) and vsocket against
 * Netty's NIO channel each way (plain UDP); a connection closed by the client is seen closed by
 * the server.
 */
class QuicOverVSocketTest {
    private static final String PROTOCOL = "vsocket-echo";
    private static final int STREAMS = 8;
    private static final int STREAM_BYTES = 256 * 1024;

    private static EventLoopGroup vsocket;
    private static EventLoopGroup nio;
    private static X509Bundle certificate;

    @BeforeAll
    static void start() throws Exception {
        Quic.ensureAvailability();
        vsocket = new VSocketEventLoopGroup(2);
        nio = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        certificate = new CertificateBuilder().subject("CN=localhost").setIsCertificateAuthority(true)
                .buildSelfSigned();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        vsocket.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        nio.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @Test
    void streamsEchoedBetweenVSocketPeersEndOnSharedMemory() throws Exception {
        Exchange exchange = exchange(vsocket, VSocketDatagramChannel.class, vsocket, VSocketDatagramChannel.class);
        VSocketDatagramChannel server = (VSocketDatagramChannel) exchange.server;
        VSocketDatagramChannel client = (VSocketDatagramChannel) exchange.client;
        long received = server.eventLoop().submit(server::shmDatagramsReceived).get(5, TimeUnit.SECONDS);
        long sent = client.eventLoop().submit(client::shmDatagramsSent).get(5, TimeUnit.SECONDS);
        assertTrue(received > 0, "the server's packets came over UDP alone");
        assertTrue(sent > 0, "the client's packets went over UDP alone");
        exchange.close();
    }

    @Test
    void aVSocketServerServesANioClient() throws Exception {
        exchange(nio, NioDatagramChannel.class, vsocket, VSocketDatagramChannel.class).close();
    }

    @Test
    void aVSocketClientReachesANioServer() throws Exception {
        exchange(vsocket, VSocketDatagramChannel.class, nio, NioDatagramChannel.class).close();
    }

    /** Binds a QUIC server, connects a client, echoes {@link #STREAMS} streams at once, checks every byte. */
    private static Exchange exchange(EventLoopGroup clientGroup, Class<? extends DatagramChannel> clientType,
                                     EventLoopGroup serverGroup, Class<? extends DatagramChannel> serverType)
            throws Exception {
        CompletableFuture<Void> serverSawClose = new CompletableFuture<>();
        AtomicInteger serverStreams = new AtomicInteger();
        QuicSslContext serverTls = QuicSslContextBuilder
                .forServer(certificate.getKeyPair().getPrivate(), null, certificate.getCertificate())
                .applicationProtocols(PROTOCOL).build();
        ChannelHandler serverCodec = flowControl(new QuicServerCodecBuilder())
                .sslContext(serverTls)
                .tokenHandler(InsecureQuicTokenHandler.INSTANCE)
                .streamOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        serverSawClose.complete(null);
                    }
                })
                .streamHandler(new ChannelInitializer<QuicStreamChannel>() {
                    @Override
                    protected void initChannel(QuicStreamChannel stream) {
                        serverStreams.incrementAndGet();
                        stream.pipeline().addLast(new StreamEcho());
                    }
                })
                .build();
        Channel server = new Bootstrap().group(serverGroup).channel(serverType).handler(serverCodec)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();

        QuicSslContext clientTls = QuicSslContextBuilder.forClient()
                .trustManager(InsecureTrustManagerFactory.INSTANCE).applicationProtocols(PROTOCOL).build();
        ChannelHandler clientCodec = flowControl(new QuicClientCodecBuilder()).sslContext(clientTls).build();
        Channel client = new Bootstrap().group(clientGroup).channel(clientType).handler(clientCodec)
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        QuicChannel quic = QuicChannel.newBootstrap(client)
                .streamHandler(new ChannelInboundHandlerAdapter())
                .remoteAddress(server.localAddress())
                .connect().get(10, TimeUnit.SECONDS);

        Random random = new Random(42);
        List<byte[]> sent = new ArrayList<>();
        List<CompletableFuture<byte[]>> echoes = new ArrayList<>();
        for (int i = 0; i < STREAMS; i++) {
            byte[] bytes = new byte[STREAM_BYTES - i * 1031];
            random.nextBytes(bytes);
            sent.add(bytes);
            StreamCollector collector = new StreamCollector();
            echoes.add(collector.done);
            QuicStreamChannel stream = quic.newStreamBootstrap()
                    .type(QuicStreamType.BIDIRECTIONAL)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(collector)
                    .create().get(10, TimeUnit.SECONDS);
            // Written in pieces, as an application streams: each piece a write of its own.
            for (int offset = 0; offset < bytes.length; offset += 16 * 1024) {
                stream.write(Unpooled.wrappedBuffer(bytes, offset, Math.min(16 * 1024, bytes.length - offset)));
            }
            stream.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> stream.shutdownOutput());
        }
        for (int i = 0; i < STREAMS; i++) {
            assertArrayEquals(sent.get(i), echoes.get(i).get(30, TimeUnit.SECONDS), "stream " + i + " echoed");
        }
        assertEquals(STREAMS, serverStreams.get());

        quic.close().sync();
        serverSawClose.get(10, TimeUnit.SECONDS);
        return new Exchange(client, server);
    }

    private static <B extends io.netty.handler.codec.quic.QuicCodecBuilder<B>> B flowControl(B builder) {
        return builder.maxIdleTimeout(10, TimeUnit.SECONDS)
                .initialMaxData(16L * 1024 * 1024)
                .initialMaxStreamDataBidirectionalLocal(1024 * 1024)
                .initialMaxStreamDataBidirectionalRemote(1024 * 1024)
                .initialMaxStreamsBidirectional(100);
    }

    private record Exchange(Channel client, Channel server) {
        void close() throws InterruptedException {
            client.close().sync();
            server.close().sync();
        }
    }

    /** Writes back what a stream brings and ends its own side where the peer ended its. */
    private static final class StreamEcho extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event == ChannelInputShutdownEvent.INSTANCE) {
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER)
                        .addListener(f -> ((QuicStreamChannel) ctx.channel()).shutdownOutput());
            }
            ReferenceCountUtil.release(event);
        }
    }

    /** Gathers a stream's bytes until the peer ends it. */
    private static final class StreamCollector extends ChannelInboundHandlerAdapter {
        final CompletableFuture<byte[]> done = new CompletableFuture<>();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                byte[] piece = new byte[buf.readableBytes()];
                buf.readBytes(piece);
                bytes.writeBytes(piece);
            } finally {
                buf.release();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event == ChannelInputShutdownEvent.INSTANCE) {
                done.complete(bytes.toByteArray());
                ctx.close();
            }
            ReferenceCountUtil.release(event);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            done.completeExceptionally(cause);
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            done.completeExceptionally(new IllegalStateException("stream closed after " + bytes.size() + " bytes"));
        }
    }
}
