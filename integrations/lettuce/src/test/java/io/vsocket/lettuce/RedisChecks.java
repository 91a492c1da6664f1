package io.vsocket.lettuce;

import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks that a Redis-protocol server behaves, made with a Lettuce client; shared by the tests of
 * the Lettuce integration and of the example server (through this module's test jar).
 */
public final class RedisChecks {
    private RedisChecks() {
    }

    /**
     * {@code perConnection} INCRs of {@code key} from each of four connections at once, each from a
     * thread of its own: every increment is applied exactly once (the replies are 1..n).
     */
    public static void concurrentIncrementsApplyOnce(RedisClient client, String key, int perConnection,
                                                     Duration timeout) throws Exception {
        List<StatefulRedisConnection<String, String>> connections = new ArrayList<>();
        try {
            for (int c = 0; c < 4; c++) {
                connections.add(client.connect());
            }
            List<RedisFuture<Long>> increments = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (StatefulRedisConnection<String, String> connection : connections) {
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < perConnection; i++) {
                        RedisFuture<Long> f = connection.async().incr(key);
                        synchronized (increments) {
                            increments.add(f);
                        }
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            assertTrue(LettuceFutures.awaitAll(timeout, increments.toArray(new RedisFuture[0])));
            List<Long> values = new ArrayList<>();
            for (RedisFuture<Long> f : increments) {
                values.add(f.get());
            }
            values.sort(null);
            for (int i = 0; i < values.size(); i++) {
                assertEquals(i + 1L, values.get(i), "every increment applied exactly once");
            }
        } finally {
            connections.forEach(StatefulRedisConnection::close);
        }
    }

    /** SET of {@code value} under {@code key}, then GET and STRLEN give it back whole. */
    public static void valueRoundTrips(StatefulRedisConnection<byte[], byte[]> connection, byte[] key, byte[] value) {
        assertEquals("OK", connection.sync().set(key, value));
        assertArrayEquals(value, connection.sync().get(key), value.length + " bytes");
        assertEquals((long) value.length, connection.sync().strlen(key));
    }

    /** A connection of byte-array keys and values. */
    public static StatefulRedisConnection<byte[], byte[]> bytes(RedisClient client) {
        return client.connect(ByteArrayCodec.INSTANCE);
    }
}
