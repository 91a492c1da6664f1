package io.vsocket.grpc;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.grpc.test.Chunk;
import io.vsocket.grpc.test.ExchangeGrpc;
import io.vsocket.grpc.test.StreamRequest;
import io.vsocket.grpc.test.Summary;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * gRPC-Java's real server and channel (grpc-netty), configured by {@link VSocketGrpc} alone, serving
 * a service generated from {@code exchange.proto} by the build: unary, server, client and bidi
 * streaming, deadlines, cancellation, messages of several MiB, hundreds of concurrent calls over
 * several connections. Every connection is checked to be a vsocket channel on the shm link at both
 * ends (both are in this process on one host), through {@link ChannelRecorder}, which sees the
 * channels gRPC's own bootstraps make.
 */
class VSocketGrpcTest {
    private static final long WAIT_SECONDS = 60;
    /** Above gRPC's 4 MiB default, for the several-MiB messages. */
    private static final int MAX_MESSAGE = 32 << 20;
    private static ExchangeService service;
    private static Server server;

    @BeforeAll
    static void start() throws Exception {
        assertTrue(ChannelRecorder.enabled(), "the link checks need -Dio.netty.bootstrap.extensions=serviceload");
        service = new ExchangeService();
        server = VSocketGrpc.server(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(service)
                .maxInboundMessageSize(MAX_MESSAGE)
                .build().start();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (server != null) {
            server.shutdownNow().awaitTermination(WAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static ManagedChannel channel() {
        return VSocketGrpc.channel("127.0.0.1", server.getPort()).usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE).build();
    }

    private static void close(ManagedChannel channel) throws InterruptedException {
        channel.shutdownNow().awaitTermination(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void unaryCallsRunOnVSocketChannelsOverShmAtBothEnds() throws Exception {
        int before = ChannelRecorder.clients().size();
        ManagedChannel channel = channel();
        try {
            ExchangeGrpc.ExchangeBlockingStub stub = ExchangeGrpc.newBlockingStub(channel);
            for (int i = 0; i < 100; i++) {
                Chunk reply = stub.echo(ExchangeService.chunk(i, 100 + i));
                assertEquals(i + 1, reply.getSeq());
                assertEquals(ExchangeService.chunk(i, 100 + i).getData(), reply.getData());
            }
            List<Channel> connections = ChannelRecorder.clients().subList(before, ChannelRecorder.clients().size());
            assertEquals(1, connections.size(), "one connection carries every call: " + connections);
            assertShmAtBothEnds(connections);
            assertTrue(ChannelRecorder.listeners().stream().anyMatch(l -> l instanceof VSocketServerSocketChannel
                    && l.localAddress() instanceof InetSocketAddress a && a.getPort() == server.getPort()),
                    "the server listens on a VSocketServerSocketChannel: " + ChannelRecorder.listeners());
        } finally {
            close(channel);
        }
    }

    @Test
    void serverStreamingDeliversEveryMessageInOrder() throws Exception {
        ManagedChannel channel = channel();
        try {
            Iterator<Chunk> stream = ExchangeGrpc.newBlockingStub(channel)
                    .produce(StreamRequest.newBuilder().setCount(2000).setSize(1000).build());
            int n = 0;
            while (stream.hasNext()) {
                Chunk chunk = stream.next();
                assertEquals(ExchangeService.chunk(n, 1000), chunk, "message " + n);
                n++;
            }
            assertEquals(2000, n);
        } finally {
            close(channel);
        }
    }

    @Test
    void clientStreamingDeliversEveryMessageInOrder() throws Exception {
        ManagedChannel channel = channel();
        try {
            CompletableFuture<Summary> summary = new CompletableFuture<>();
            StreamObserver<Chunk> requests = ExchangeGrpc.newStub(channel).collect(observer(summary));
            CRC32 crc = new CRC32();
            long bytes = 0;
            for (int i = 0; i < 1000; i++) {
                Chunk chunk = ExchangeService.chunk(i, 1 + (i * 97) % 3000);
                crc.update(chunk.getData().asReadOnlyByteBuffer());
                bytes += chunk.getData().size();
                requests.onNext(chunk);
            }
            requests.onCompleted();
            Summary s = summary.get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(1000, s.getCount());
            assertEquals(bytes, s.getBytes());
            assertEquals(crc.getValue(), s.getCrc());
        } finally {
            close(channel);
        }
    }

    @Test
    void bidiStreamingAnswersEachMessage() throws Exception {
        ManagedChannel channel = channel();
        try {
            List<Chunk> received = new ArrayList<>();
            CompletableFuture<Void> done = new CompletableFuture<>();
            StreamObserver<Chunk> requests = ExchangeGrpc.newStub(channel).chat(new StreamObserver<>() {
                @Override
                public void onNext(Chunk chunk) {
                    synchronized (received) {
                        received.add(chunk);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    done.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    done.complete(null);
                }
            });
            for (int i = 0; i < 500; i++) {
                requests.onNext(ExchangeService.chunk(i, 10 + i % 700));
            }
            requests.onCompleted();
            done.get(WAIT_SECONDS, TimeUnit.SECONDS);
            synchronized (received) {
                assertEquals(500, received.size());
                for (int i = 0; i < 500; i++) {
                    assertEquals(i + 1, received.get(i).getSeq());
                    assertEquals(ExchangeService.chunk(i, 10 + i % 700).getData(), received.get(i).getData());
                }
            }
        } finally {
            close(channel);
        }
    }

    @Test
    void aDeadlineEndsTheCallWithDeadlineExceededAndCancelsItOnTheServer() throws Exception {
        ManagedChannel channel = channel();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ExchangeGrpc
                    .newBlockingStub(channel).withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                    .hang(Chunk.newBuilder().setSeq(4242).build()));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
            assertEquals("hang:4242", awaitCancellation("hang:4242"));
        } finally {
            close(channel);
        }
    }

    @Test
    void aClientCancellationStopsTheServersStream() throws Exception {
        ManagedChannel channel = channel();
        try {
            int total = 1_000_000;
            AtomicInteger received = new AtomicInteger();
            CompletableFuture<Status> end = new CompletableFuture<>();
            ExchangeGrpc.newStub(channel).produce(StreamRequest.newBuilder().setCount(total).setSize(1024).build(),
                    new ClientResponseObserver<StreamRequest, Chunk>() {
                        private ClientCallStreamObserver<StreamRequest> call;

                        @Override
                        public void beforeStart(ClientCallStreamObserver<StreamRequest> call) {
                            this.call = call;
                        }

                        @Override
                        public void onNext(Chunk chunk) {
                            if (received.incrementAndGet() == 200) {
                                call.cancel("the test has seen enough", null);
                            }
                        }

                        @Override
                        public void onError(Throwable t) {
                            end.complete(Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                            end.complete(Status.OK);
                        }
                    });
            assertEquals(Status.Code.CANCELLED, end.get(WAIT_SECONDS, TimeUnit.SECONDS).getCode());
            String cancelled = awaitCancellation("produce:");
            int produced = Integer.parseInt(cancelled.substring("produce:".length()));
            assertTrue(produced >= 200 && produced < total, "the server stopped producing at " + produced);
        } finally {
            close(channel);
        }
    }

    @Test
    void messagesOfSeveralMiBBothWays() throws Exception {
        ManagedChannel channel = channel();
        try {
            ExchangeGrpc.ExchangeBlockingStub stub = ExchangeGrpc.newBlockingStub(channel);
            Chunk big = ExchangeService.chunk(7, 9 * 1024 * 1024 + 13);
            Chunk reply = stub.echo(big);
            assertEquals(8, reply.getSeq());
            assertEquals(big.getData(), reply.getData());

            Iterator<Chunk> stream = stub.produce(StreamRequest.newBuilder().setCount(3).setSize(6 << 20).build());
            for (int i = 0; i < 3; i++) {
                assertEquals(ExchangeService.chunk(i, 6 << 20), stream.next(), "streamed message " + i);
            }
            assertFalse(stream.hasNext());

            CompletableFuture<Summary> summary = new CompletableFuture<>();
            StreamObserver<Chunk> requests = ExchangeGrpc.newStub(channel).collect(observer(summary));
            CRC32 crc = new CRC32();
            for (int i = 0; i < 3; i++) {
                Chunk chunk = ExchangeService.chunk(i, 5 << 20);
                crc.update(chunk.getData().asReadOnlyByteBuffer());
                requests.onNext(chunk);
            }
            requests.onCompleted();
            Summary s = summary.get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(3L * (5 << 20), s.getBytes());
            assertEquals(crc.getValue(), s.getCrc());
        } finally {
            close(channel);
        }
    }

    @Test
    void hundredsOfConcurrentCallsOverSeveralConnections() throws Exception {
        int before = ChannelRecorder.clients().size();
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            for (int c = 0; c < 6; c++) {
                channels.add(channel());
            }
            List<ListenableFuture<Chunk>> calls = new ArrayList<>();
            for (int i = 0; i < 600; i++) {
                ManagedChannel channel = channels.get(i % channels.size());
                calls.add(ExchangeGrpc.newFutureStub(channel).echo(ExchangeService.chunk(i, 1 + (i * 131) % 40_000)));
            }
            for (int i = 0; i < calls.size(); i++) {
                Chunk reply = calls.get(i).get(WAIT_SECONDS, TimeUnit.SECONDS);
                assertEquals(i + 1, reply.getSeq());
                assertEquals(ByteString.copyFrom(ExchangeService.pattern(i, 1 + (i * 131) % 40_000)), reply.getData());
            }
            List<Channel> connections = ChannelRecorder.clients().subList(before, ChannelRecorder.clients().size());
            assertEquals(6, connections.size(), "one connection per gRPC channel: " + connections);
            assertShmAtBothEnds(connections);
        } finally {
            for (ManagedChannel channel : channels) {
                close(channel);
            }
        }
    }

    @Test
    void theCallersGroupCarriesTheServerAndChannelItConfigures() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        Server own = null;
        ManagedChannel channel = null;
        try {
            own = VSocketGrpc.configure(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)), group)
                    .addService(new ExchangeService()).build().start();
            int before = ChannelRecorder.clients().size();
            channel = VSocketGrpc.configure(NettyChannelBuilder.forAddress("127.0.0.1", own.getPort()), group)
                    .usePlaintext().build();
            assertEquals(2, ExchangeGrpc.newBlockingStub(channel).echo(Chunk.newBuilder().setSeq(1).build()).getSeq());
            List<Channel> connections = ChannelRecorder.clients().subList(before, ChannelRecorder.clients().size());
            assertShmAtBothEnds(connections);
            for (Channel c : connections) {
                assertSame(group, c.eventLoop().parent(), "the client connection runs on the caller's group");
                assertSame(group, serverEnd(c).eventLoop().parent(), "the accepted connection runs on the caller's group");
            }
        } finally {
            if (channel != null) {
                close(channel);
            }
            if (own != null) {
                own.shutdownNow().awaitTermination(WAIT_SECONDS, TimeUnit.SECONDS);
            }
            // gRPC never shuts down a group it was given: the caller does, once both have terminated.
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void connectionsKeepGrpcsAllocatorUnlessTheRegisteredOneIsTheDefault() throws Exception {
        int before = ChannelRecorder.clients().size();
        ManagedChannel channel = channel();
        try {
            ExchangeGrpc.newBlockingStub(channel).echo(Chunk.newBuilder().setSeq(1).build());
            Channel connection = ChannelRecorder.clients().get(before);
            boolean registeredIsDefault = VSocketLinks.defaultAllocator() instanceof RegisteredAllocator;
            for (Channel c : List.of(connection, serverEnd(connection))) {
                if (registeredIsDefault) {
                    assertSame(RegisteredAllocator.shared(), c.config().getAllocator());
                } else {
                    // no RDMA device: gRPC's own pooled allocator, which it sizes for its frames, stays
                    assertFalse(c.config().getAllocator() instanceof RegisteredAllocator);
                }
            }
        } finally {
            close(channel);
        }
    }

    @Test
    void anotherTransportsGroupIsRefusedWithAReason() {
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            IllegalArgumentException server = assertThrows(IllegalArgumentException.class,
                    () -> VSocketGrpc.configure(NettyServerBuilder.forPort(0), nio));
            assertTrue(server.getMessage().contains("not a vsocket event loop group"), server.getMessage());
            IllegalArgumentException client = assertThrows(IllegalArgumentException.class,
                    () -> VSocketGrpc.configure(NettyChannelBuilder.forAddress("127.0.0.1", 1), nio));
            assertTrue(client.getMessage().contains("not a vsocket event loop group"), client.getMessage());
        } finally {
            nio.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }

    /** Each client connection and the server's end of it: vsocket channels, both on shm. */
    private static void assertShmAtBothEnds(List<Channel> connections) throws InterruptedException {
        assertFalse(connections.isEmpty(), "no connection was recorded");
        for (Channel client : connections) {
            VSocketSocketChannel c = assertInstanceOf(VSocketSocketChannel.class, client);
            assertEquals(VSocketLink.SHM, awaitShm(c), "client end " + c);
            VSocketSocketChannel s = assertInstanceOf(VSocketSocketChannel.class, serverEnd(client));
            assertEquals(VSocketLink.SHM, awaitShm(s), "server end " + s);
        }
    }

    /** The accepted channel whose remote address is this client connection's local one. */
    private static Channel serverEnd(Channel client) {
        Channel match = null;
        for (Channel accepted : ChannelRecorder.accepted()) {
            if (client.localAddress().equals(accepted.remoteAddress())) {
                match = accepted;
            }
        }
        assertNotNull(match, "no accepted connection from " + client.localAddress());
        return match;
    }

    private static String awaitCancellation(String prefix) throws InterruptedException {
        for (;;) {
            String c = service.cancellations.poll(WAIT_SECONDS, TimeUnit.SECONDS);
            assertNotNull(c, "the server saw no cancellation of " + prefix);
            if (c.startsWith(prefix)) {
                return c;
            }
        }
    }

    private static <T> StreamObserver<T> observer(CompletableFuture<T> result) {
        AtomicReference<T> last = new AtomicReference<>();
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {
                last.set(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.complete(last.get());
            }
        };
    }

    /** The channel's link once it is shm, or after 10 s (on one host a connection begins on tcp and moves onto shm). */
    private static VSocketLink awaitShm(VSocketSocketChannel ch) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (ch.link() != VSocketLink.SHM && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        return ch.link();
    }
}
