package io.vsocket.examples.redis;

import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.NettyCustomizer;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.examples.PlainRespClient;
import io.vsocket.lettuce.RedisChecks;
import io.vsocket.lettuce.VSocketLettuce;
import io.vsocket.lettuce.VSocketRedisClient;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The example key-value server on vsocket, used by Lettuce's real client on vsocket
 * ({@link VSocketRedisClient}): both in this process on one host, so every connection is on the shm
 * link (checked through Lettuce's own channel hook). Strings, counters, deletes, pipelining, many
 * concurrent commands, values of several MiB; and a plain TCP client, as {@code redis-cli} would be.
 */
class RedisServerTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static EventLoopGroup group;
    private static RedisServer server;
    private static ClientResources resources;
    private static VSocketRedisClient client;
    private static final Queue<Channel> channels = new ConcurrentLinkedQueue<>();

    @BeforeAll
    static void start() throws Exception {
        group = new VSocketEventLoopGroup(2);
        server = RedisServer.start(group, new InetSocketAddress("127.0.0.1", 0));
        resources = VSocketLettuce.configure(ClientResources.builder(), 2)
                .nettyCustomizer(new NettyCustomizer() {
                    @Override
                    public void afterChannelInitialized(Channel channel) {
                        channels.add(channel);
                    }
                }).build();
        client = VSocketRedisClient.create(resources, "redis://127.0.0.1:" + server.address().getPort());
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.shutdown();
        }
        if (resources != null) {
            resources.shutdown().get(60, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void lettuceOnVSocketReachesTheServerOverShm() throws InterruptedException {
        int before = channels.size();
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> redis = connection.sync();
            assertEquals("PONG", redis.ping());
            assertEquals("OK", redis.set("k1", "v1"));
            assertEquals("v1", redis.get("k1"));
            assertEquals(1L, redis.exists("k1"));
            assertEquals(1L, redis.incr("n"));
            assertEquals(11L, redis.incrby("n", 10));
            assertEquals(10L, redis.decr("n"));
            assertEquals(List.of("v1", "10"), redis.mget("k1", "n").stream().map(kv -> kv.getValue()).toList());
            assertEquals(2L, redis.del("k1", "n", "absent"));
            assertNull(redis.get("k1"));
            redis.set("text", "not a number");
            RedisCommandExecutionException e = assertThrows(RedisCommandExecutionException.class, () -> redis.incr("text"));
            assertTrue(e.getMessage().startsWith("ERR value is not an integer"), e.getMessage());

            List<Channel> opened = List.copyOf(channels).subList(before, channels.size());
            assertEquals(1, opened.size());
            assertEquals(VSocketLink.SHM, awaitShm(assertInstanceOf(VSocketSocketChannel.class, opened.get(0))));
        }
    }

    @Test
    void pipelinedCommandsAnswerInOrder() throws Exception {
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisAsyncCommands<String, String> async = connection.async();
            connection.setAutoFlushCommands(false);
            List<RedisFuture<Long>> counts = new ArrayList<>();
            List<RedisFuture<String>> sets = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                sets.add(async.set("pipe:" + i, "value-" + i));
                counts.add(async.incr("pipe:n"));
            }
            connection.flushCommands();
            assertTrue(LettuceFutures.awaitAll(TIMEOUT, counts.toArray(new RedisFuture[0])));
            for (int i = 0; i < 2000; i++) {
                assertEquals("OK", sets.get(i).get());
                assertEquals(i + 1L, counts.get(i).get(), "replies come back in the order of the commands");
            }
            connection.setAutoFlushCommands(true);
            assertEquals("value-1234", async.get("pipe:1234").get(60, TimeUnit.SECONDS));
        }
    }

    @Test
    void manyConcurrentCommandsOverSeveralConnections() throws Exception {
        RedisChecks.concurrentIncrementsApplyOnce(client, "shared-counter", 1000, TIMEOUT);
    }

    @Test
    void valuesOfSeveralMiBBothWays() {
        try (StatefulRedisConnection<byte[], byte[]> connection = RedisChecks.bytes(client)) {
            for (int size : new int[] {1, 4096, 300_000, 8 * 1024 * 1024 + 3}) {
                byte[] value = new byte[size];
                for (int i = 0; i < size; i++) {
                    value[i] = (byte) (i * 17 + size + (i >>> 12));
                }
                RedisChecks.valueRoundTrips(connection, ("big:" + size).getBytes(), value);
            }
        }
    }

    @Test
    void aPlainTcpClientIsServedToo() throws Exception {
        try (PlainRespClient plain = new PlainRespClient(server.address())) {
            assertEquals("+PONG", plain.send("PING\r\n")); // an inline command, as typed into telnet
            assertEquals("+OK", plain.command("SET", "plain", "tcp"));
            assertEquals("$3 tcp", plain.command("GET", "plain"));
            assertEquals("$-1", plain.command("GET", "nothing"));
            assertEquals(":1", plain.command("DEL", "plain"));
            assertEquals("-ERR unknown command 'hello'", plain.command("HELLO", "3"));
            assertEquals("-ERR wrong number of arguments for 'get' command", plain.command("GET"));
        }
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
