package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared memory an shm connection holds: its rings are large (room to stream), but pages exist
 * only once written, and a connection that stops writing gives them back, so an idle connection
 * holds at most 64 KiB per side (in fact its control page). Measured as the resident size of this
 * process's two mappings of the connection's memfd in {@code /proc/self/smaps}; both ends live in this process.
 */
@Timeout(120)
class IdleMemoryTest {
    private static final long KIB = 1024;

    @Test
    void anIdleConnectionGivesItsRingPagesBack() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        try {
            CompletableFuture<Channel> accepted = new CompletableFuture<>();
            Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), new ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    accepted.complete(ch);
                    ch.pipeline().addLast(Peers.Echo.INSTANCE);
                }
            }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            long length = 4L << 20;
            Peers.Collector collector = new Peers.Collector(length);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM), collector)
                    .connect(server.localAddress()).sync().channel();
            send(client, 11, length);
            assertEquals(Peers.streamCrc(11, length), collector.done.get(60, TimeUnit.SECONDS));
            // This connection's two mappings of its memfd (other tests' connections in this JVM come and go).
            Channel child = accepted.get(10, TimeUnit.SECONDS);
            long[] mappings = {mappingOf(client), mappingOf(child)};

            long active = residentBytes(mappings);
            // Each direction's writes of 60,000 bytes touch at least that much of its ring, seen through
            // both sides' mappings: 234 KiB at least (more where the writer did not find its ring empty
            // and went on round it; a writer that does goes on at the ring's start).
            assertTrue(active > 3 * 64 * KIB,
                    "streaming touched both rings on both sides: " + active / KIB + " KiB resident");

            long idle = active;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5 * VSocketLinks.IDLE_RELEASE_MILLIS + 2000);
            while (idle > 2 * 64 * KIB && System.nanoTime() < deadline) {
                Thread.sleep(100);
                idle = residentBytes(mappings);
            }
            assertTrue(idle <= 2 * 64 * KIB, "idle, the connection holds at most 64 KiB per side: "
                    + idle / KIB + " KiB resident for both sides (" + active / KIB + " KiB while streaming)");

            // The released pages come back, zeroed, on the next write: the stream goes on intact.
            Peers.Collector again = new Peers.Collector(length);
            client.pipeline().replace(collector, "again", again);
            send(client, 12, length);
            assertEquals(Peers.streamCrc(12, length), again.done.get(60, TimeUnit.SECONDS));
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    private static void send(Channel channel, long seed, long length) throws InterruptedException {
        Peers.sendStream(channel, seed, length, () -> 60_000);
    }

    /** Where {@code channel}'s shm link maps its memfd (read on the channel's loop). */
    private static long mappingOf(Channel channel) throws Exception {
        return channel.eventLoop().submit(() -> ShmInternals.memory(ShmInternals.link(channel)).address())
                .get(10, TimeUnit.SECONDS);
    }

    /** The resident bytes of this process's mappings that start at {@code starts}, per {@code /proc/self/smaps}. */
    static long residentBytes(long... starts) throws IOException {
        long total = 0;
        boolean counted = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            int dash = line.indexOf('-');
            int space = line.indexOf(' ');
            if (dash > 0 && space > dash && line.substring(0, dash).chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                long start = Long.parseUnsignedLong(line.substring(0, dash), 16);
                counted = java.util.Arrays.stream(starts).anyMatch(s -> s == start);
            } else if (counted && line.startsWith("Rss:")) {
                total += Long.parseLong(line.replaceAll("[^0-9]", "")) * KIB;
            }
        }
        return total;
    }
}
