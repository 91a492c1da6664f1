package io.vsocket.examples.relay;

import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.NettyCustomizer;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.examples.PlainRespClient;
import io.vsocket.lettuce.RedisServerProcess;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The relay in front of a stock {@code redis-server} this test starts: Lettuce on vsocket reaches the
 * relay over shm, the relay reaches redis-server over plain TCP, and what the client writes is what a
 * client connected to redis-server directly reads (and the other way round).
 */
class RelayTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static RedisServerProcess redis;
    private static EventLoopGroup group;
    private static Relay relay;
    private static ClientResources resources;
    private static ClientResources directResources;
    private static VSocketRedisClient viaRelay;
    private static VSocketRedisClient direct;
    private static final Queue<Channel> channels = new ConcurrentLinkedQueue<>();

    @BeforeAll
    static void start() throws Exception {
        redis = RedisServerProcess.start();
        group = new VSocketEventLoopGroup(2);
        relay = Relay.start(group, new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress("127.0.0.1", redis.port()));
        resources = VSocketLettuce.configure(ClientResources.builder(), 2).nettyCustomizer(recorder(false)).build();
        // The direct client knows redis-server is plain TCP and says so through Lettuce's hook (which
        // may add options), sparing its connections the wait for a vsocket offer that cannot come.
        directResources = VSocketLettuce.configure(ClientResources.builder(), 1).nettyCustomizer(recorder(true)).build();
        viaRelay = VSocketRedisClient.create(resources, "redis://127.0.0.1:" + relay.address().getPort());
        direct = VSocketRedisClient.create(directResources, redis.uri());
    }

    private static NettyCustomizer recorder(boolean tcpOnly) {
        return new NettyCustomizer() {
            @Override
            public void afterBootstrapInitialized(Bootstrap bootstrap) {
                if (tcpOnly) {
                    bootstrap.option(VSocketChannelOption.LINKS, List.of(VSocketLink.TCP));
                }
            }

            @Override
            public void afterChannelInitialized(Channel channel) {
                channels.add(channel);
            }
        };
    }

    @AfterAll
    static void stop() throws Exception {
        for (VSocketRedisClient c : new VSocketRedisClient[] {viaRelay, direct}) {
            if (c != null) {
                c.shutdown();
            }
        }
        for (ClientResources r : new ClientResources[] {resources, directResources}) {
            if (r != null) {
                r.shutdown().get(60, TimeUnit.SECONDS);
            }
        }
        if (relay != null) {
            relay.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
        if (redis != null) {
            redis.close();
        }
    }

    @Test
    void lettuceReachesAStockRedisThroughTheRelayOverShm() throws InterruptedException {
        int before = channels.size();
        try (StatefulRedisConnection<String, String> relayed = viaRelay.connect();
             StatefulRedisConnection<String, String> plain = direct.connect()) {
            RedisCommands<String, String> r = relayed.sync();
            RedisCommands<String, String> d = plain.sync();
            assertEquals("OK", r.set("relayed", "written through the relay"));
            assertEquals("written through the relay", d.get("relayed"), "redis-server itself has it");
            d.set("direct", "written directly");
            assertEquals("written directly", r.get("direct"));
            assertEquals(5L, r.incrby("relayed:n", 5));
            assertEquals(6L, d.incr("relayed:n"));
            // redis-server's own reply, which only the stock server gives
            assertTrue(r.info("server").contains("redis_version:"));

            List<Channel> opened = List.copyOf(channels).subList(before, channels.size());
            assertEquals(2, opened.size());
            for (Channel c : opened) {
                VSocketSocketChannel ch = assertInstanceOf(VSocketSocketChannel.class, c);
                int port = ((InetSocketAddress) ch.remoteAddress()).getPort();
                assertEquals(port == relay.address().getPort() ? VSocketLink.SHM : VSocketLink.TCP,
                        port == relay.address().getPort() ? awaitShm(ch) : ch.link(),
                        "to the relay: shm; to redis-server (plain): tcp; " + ch);
            }
        }
    }

    @Test
    void pipelinedAndLargeTrafficPassesWhole() throws Exception {
        try (StatefulRedisConnection<String, String> connection = viaRelay.connect()) {
            RedisAsyncCommands<String, String> async = connection.async();
            connection.setAutoFlushCommands(false);
            List<RedisFuture<Long>> counts = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                counts.add(async.incr("relay:pipe"));
            }
            connection.flushCommands();
            assertTrue(LettuceFutures.awaitAll(TIMEOUT, counts.toArray(new RedisFuture[0])));
            for (int i = 0; i < counts.size(); i++) {
                assertEquals(i + 1L, counts.get(i).get());
            }
        }
        try (StatefulRedisConnection<byte[], byte[]> connection = viaRelay.connect(ByteArrayCodec.INSTANCE)) {
            byte[] value = new byte[5 * 1024 * 1024 + 11];
            for (int i = 0; i < value.length; i++) {
                value[i] = (byte) (i * 7 + (i >>> 9));
            }
            assertEquals("OK", connection.sync().set("relay:big".getBytes(), value));
            assertArrayEquals(value, connection.sync().get("relay:big".getBytes()));
        }
    }

    @Test
    void aPlainClientCanUseTheRelayToo() throws Exception {
        try (PlainRespClient plain = new PlainRespClient(relay.address())) {
            assertEquals("+PONG", plain.command("PING"));
            assertEquals("+OK", plain.command("SET", "from-plain", "1"));
            assertEquals("$1 1", plain.command("GET", "from-plain"));
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
