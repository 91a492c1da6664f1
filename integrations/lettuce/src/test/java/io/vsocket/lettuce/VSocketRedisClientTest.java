package io.vsocket.lettuce;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.NettyCustomizer;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lettuce's real {@link RedisClient} ({@link VSocketRedisClient}) against a stock {@code redis-server}
 * this test starts: a plain TCP server, so the vsocket channel's hello finds no vsocket peer and the
 * link is tcp (checked). Commands, pipelining, concurrency, large values, and Lettuce's reconnect (which
 * reuses the bootstrap this client moved onto vsocket) all go through vsocket channels. The same
 * client on the shm link, against a vsocket server, is tested in the examples module.
 */
class VSocketRedisClientTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static RedisServerProcess redis;
    private static ClientResources resources;
    private static VSocketRedisClient client;
    /** Every channel Lettuce initialized, through its own hook. */
    private static final Queue<Channel> channels = new ConcurrentLinkedQueue<>();

    @BeforeAll
    static void start() throws Exception {
        redis = RedisServerProcess.start();
        resources = VSocketLettuce.configure(ClientResources.builder(), 2)
                .nettyCustomizer(new NettyCustomizer() {
                    @Override
                    public void afterChannelInitialized(Channel channel) {
                        channels.add(channel);
                    }
                }).build();
        client = VSocketRedisClient.create(resources, redis.uri());
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.shutdown();
        }
        if (resources != null) {
            resources.shutdown().get(60, TimeUnit.SECONDS);
        }
        if (redis != null) {
            redis.close();
        }
    }

    @Test
    void commandsRunOnAVSocketChannelOnTheTcpLinkToAPlainRedis() {
        int before = channels.size();
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> redis = connection.sync();
            assertEquals("OK", redis.set("greeting", "hello"));
            assertEquals("hello", redis.get("greeting"));
            assertEquals(1L, redis.incr("counter:a"));
            assertEquals(2L, redis.incr("counter:a"));
            assertEquals(12L, redis.incrby("counter:a", 10));
            assertEquals(2L, redis.del("greeting", "counter:a", "never-set"));
            assertNull(redis.get("greeting"));

            List<Channel> opened = List.copyOf(channels).subList(before, channels.size());
            assertEquals(1, opened.size(), "one connection: " + opened);
            VSocketSocketChannel channel = assertInstanceOf(VSocketSocketChannel.class, opened.get(0));
            assertEquals(VSocketLink.TCP, channel.link(), "redis-server does not speak vsocket");
            // Lettuce's socket options came along with the move to vsocket's channel class
            assertEquals(Boolean.TRUE, channel.config().getOption(ChannelOption.TCP_NODELAY));
            // and its fixed allocator did not: the channel's own default is in place
            ByteBufAllocator expected = VSocketLinks.defaultAllocator();
            assertSame(expected, channel.config().getAllocator());
            assertTrue(expected instanceof RegisteredAllocator || expected == ByteBufAllocator.DEFAULT);
        }
    }

    /**
     * Lettuce's extended keep-alive (on by default) reaches the connection's TCP socket: it names the
     * options by NIO's constants here (epoll's or io_uring's where those are on the class path), which
     * vsocket's channel takes as its own instead of warning of each as unknown.
     */
    @Test
    void lettucesKeepAliveSettingsReachTheTcpSocket() {
        VSocketRedisClient own = VSocketRedisClient.create(resources, redis.uri());
        own.setOptions(ClientOptions.builder().socketOptions(SocketOptions.builder()
                .keepAlive(SocketOptions.KeepAliveOptions.builder().enable().idle(Duration.ofSeconds(42))
                        .interval(Duration.ofSeconds(7)).count(4).build())
                .build()).build());
        int before = channels.size();
        try (StatefulRedisConnection<String, String> connection = own.connect()) {
            assertEquals("PONG", connection.sync().ping());
            List<Channel> opened = List.copyOf(channels).subList(before, channels.size());
            VSocketSocketChannel channel = assertInstanceOf(VSocketSocketChannel.class, opened.get(0));
            assertEquals(Boolean.TRUE, channel.config().getOption(ChannelOption.SO_KEEPALIVE));
            assertEquals(42, channel.config().getOption(VSocketChannelOption.TCP_KEEPIDLE));
            assertEquals(7, channel.config().getOption(VSocketChannelOption.TCP_KEEPINTVL));
            assertEquals(4, channel.config().getOption(VSocketChannelOption.TCP_KEEPCNT));
        } finally {
            own.shutdown(Duration.ZERO, TIMEOUT);
        }
    }

    @Test
    void pipelinedCommandsFlushedAtOnce() throws Exception {
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisAsyncCommands<String, String> async = connection.async();
            connection.setAutoFlushCommands(false);
            List<RedisFuture<?>> futures = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                futures.add(async.set("pipe:" + i, "v" + i));
                futures.add(async.incr("pipe:count"));
            }
            connection.flushCommands();
            assertTrue(LettuceFutures.awaitAll(TIMEOUT, futures.toArray(new RedisFuture[0])));
            assertEquals(1000L, futures.get(futures.size() - 1).get());
            connection.setAutoFlushCommands(true);
            assertEquals("v777", async.get("pipe:777").get(60, TimeUnit.SECONDS));
        }
    }

    @Test
    void manyConcurrentCommandsFromSeveralConnections() throws Exception {
        RedisChecks.concurrentIncrementsApplyOnce(client, "concurrent", 500, TIMEOUT);
    }

    @Test
    void largeValuesBothWays() {
        try (StatefulRedisConnection<byte[], byte[]> connection = RedisChecks.bytes(client)) {
            byte[] value = new byte[6 * 1024 * 1024 + 5];
            for (int i = 0; i < value.length; i++) {
                value[i] = (byte) (i * 131 + (i >>> 13));
            }
            RedisChecks.valueRoundTrips(connection, "large".getBytes(), value);
        }
    }

    @Test
    void lettucesReconnectAlsoUsesAVSocketChannel() throws Exception {
        int before = channels.size();
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> redis = connection.sync();
            redis.set("survives", "yes");
            long id = redis.clientId();
            // The server drops the connection; Lettuce's watchdog reconnects with the same bootstrap.
            try (StatefulRedisConnection<String, String> admin = client.connect()) {
                assertEquals(1L, admin.sync().clientKill(io.lettuce.core.KillArgs.Builder.id(id)));
            }
            assertEquals("yes", redis.get("survives"));
            assertTrue(redis.clientId() != id, "a new connection");
            List<Channel> opened = List.copyOf(channels).subList(before, channels.size());
            assertEquals(3, opened.size(), "first connection, admin, reconnection: " + opened);
            for (Channel c : opened) {
                assertEquals(VSocketLink.TCP, assertInstanceOf(VSocketSocketChannel.class, c).link());
            }
        }
    }

    @Test
    void theLastClientToShutDownEndsTheLoops() {
        ClientResources own = VSocketLettuce.configure(ClientResources.builder(), 1).build();
        try {
            VSocketRedisClient first = VSocketRedisClient.create(own, redis.uri());
            VSocketRedisClient second = VSocketRedisClient.create(own, redis.uri());
            EventLoopGroup group;
            try (StatefulRedisConnection<String, String> a = first.connect();
                 StatefulRedisConnection<String, String> b = second.connect()) {
                assertEquals("PONG", a.sync().ping());
                assertEquals("PONG", b.sync().ping());
                group = own.eventLoopGroupProvider().allocate(EventLoopGroup.class);
                own.eventLoopGroupProvider().release(group, 0, 0, TimeUnit.SECONDS);
            }
            first.shutdown();
            assertTrue(!group.isShuttingDown(), "the second client still uses the loops");
            second.shutdown();
            assertTrue(group.isShuttingDown(), "the last client released the loops");
        } finally {
            own.shutdown(0, 0, TimeUnit.SECONDS);
        }
    }

    @Test
    void resourcesWithoutVSocketLoopsAndSocketUrisAreRefusedWithAReason() {
        ClientResources nio = ClientResources.create();
        try {
            VSocketRedisClient wrong = VSocketRedisClient.create(nio, redis.uri());
            Exception e = assertThrows(Exception.class, wrong::connect);
            Throwable cause = e;
            while (!(cause instanceof IllegalStateException) && cause.getCause() != null) {
                cause = cause.getCause();
            }
            assertTrue(cause.getMessage().contains("VSocketLettuce.clientResources()"), cause.getMessage());
            wrong.shutdown();
        } finally {
            nio.shutdown(0, 0, TimeUnit.SECONDS);
        }
        VSocketRedisClient socket = VSocketRedisClient.create(resources, RedisURI.create("redis-socket:///tmp/redis.sock"));
        UnsupportedOperationException unix = assertThrows(UnsupportedOperationException.class, socket::connect);
        assertTrue(unix.getMessage().contains("Unix domain socket"), unix.getMessage());
        socket.shutdown();
    }
}
