package io.vsocket.loop;

import io.netty.channel.EventLoop;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An event loop with nothing to do blocks in epoll_wait: it does not burn its core. (It once did:
 * the wait's timeout was computed against the wrong clock and always came out as zero.)
 */
class IdleLoopTest {

    @Test
    void anIdleLoopSleeps() throws Exception {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        VSocketEventLoopGroup group = new VSocketEventLoopGroup(1, Duration.ofNanos(50_000));
        try {
            EventLoop loop = group.next();
            long id = loop.submit(() -> Thread.currentThread().threadId()).get(5, TimeUnit.SECONDS);
            long before = threads.getThreadCpuTime(id);
            Thread.sleep(1000);
            long used = threads.getThreadCpuTime(id) - before;
            assertTrue(used < 200_000_000L, "an idle loop used " + used / 1_000_000 + " ms of CPU in 1 s");
            // And it still wakes for work: a task submitted now runs promptly.
            long start = System.nanoTime();
            loop.submit(() -> { }).get(5, TimeUnit.SECONDS);
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1), "the sleeping loop woke for a task");
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
