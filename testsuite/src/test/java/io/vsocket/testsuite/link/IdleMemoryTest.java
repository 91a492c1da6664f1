package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
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
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared memory an shm connection holds: its rings are large (room to stream), but pages exist
 * only once written, and a connection that stops writing gives them back, so an idle connection
 * holds at most 64 KiB per side (in fact its control page). Measured as the resident size of this
 * process's memfd mappings in {@code /proc/self/smaps}; both ends live in this process.
 */
@Timeout(120)
class IdleMemoryTest {
    private static final long KIB = 1024;

    @Test
    void anIdleConnectionGivesItsRingPagesBack() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        try {
            Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), Peers.Echo.INSTANCE)
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            long baseline = memfdResidentBytes();
            long length = 4L << 20;
            Peers.Collector collector = new Peers.Collector(length);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM), collector)
                    .connect(server.localAddress()).sync().channel();
            send(client, 11, length);
            assertEquals(Peers.streamCrc(11, length), collector.done.get(60, TimeUnit.SECONDS));

            long active = memfdResidentBytes() - baseline;
            assertTrue(active > 2 * VSocketLinks.DEFAULT_RING_SIZE,
                    "streaming touched both rings on both sides: " + active / KIB + " KiB resident");

            long idle = active;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5 * VSocketLinks.IDLE_RELEASE_MILLIS + 2000);
            while (idle > 2 * 64 * KIB && System.nanoTime() < deadline) {
                Thread.sleep(100);
                idle = memfdResidentBytes() - baseline;
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

    /** The resident bytes of every vsocket memfd mapping of this process. */
    static long memfdResidentBytes() throws IOException {
        long total = 0;
        boolean inMemfd = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (!line.isEmpty() && Character.isLetterOrDigit(line.charAt(0)) && line.contains("-")
                    && !line.contains(":  ") && line.indexOf(' ') > 0 && line.substring(0, line.indexOf(' ')).contains("-")) {
                inMemfd = line.contains("/memfd:vsocket");
            } else if (inMemfd && line.startsWith("Rss:")) {
                total += Long.parseLong(line.replaceAll("[^0-9]", "")) * KIB;
            }
        }
        return total;
    }
}
