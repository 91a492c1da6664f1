package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;
import io.vsocket.link.VSocketLink;
import io.vsocket.testsuite.link.ProcessResources.Snapshot;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Many concurrent shm connections on one {@code VSocketEventLoopGroup(2)} (issue 14, item 3): the
 * client and the server in this JVM, so twice as many channels, every one of them a poller of one of
 * the two loops. All connections open at once; then each echoes 16 bytes of its own, checked by
 * CRC; then all close, and descriptors, vsocket memfds, shared mappings and the loops' timers come
 * back to where they were. It prints what a connection costs, measured: descriptors, mappings,
 * memory (RSS and PSS from {@code /proc/self/smaps_rollup}, and the Java heap), and the loops' CPU
 * with every connection idle.
 *
 * <p><b>How many.</b> The issue asks for 10,000 ({@code -Dvsocket.scale.connections=N} changes it).
 * A connection costs 4 descriptors with both ends in one process (each side: its TCP socket and its
 * end of the doorbell; the memfd is closed once mapped; 6 until 2026-12-05, when each side held two
 * doorbell eventfds), so 10,000 need about 40,000 descriptors.
 * The test raises the process's limit to what it needs ({@code setrlimit}); where the hard limit
 * cannot be raised (it takes {@code CAP_SYS_RESOURCE}, which a container may withhold even from root),
 * it runs as many as the limit allows, and says so on standard output. On the build machines the
 * hard limit is 20,000 and cannot be raised from inside (even root gets {@code EPERM}), so it runs
 * about 4,900: 10,000 do not fit in one process there, and not in two either (the server's side
 * alone would need 20,000). Running all 10,000 needs a process started with a hard limit of at least
 * 41,000 (e.g. {@code prlimit --nofile=65536:65536 ./mvnw ...} by a user allowed to raise it).
 *
 * <p><b>Measured here</b> (3,246-3,271 connections, 6,500 channels, 2026-12-02, with the eventfd
 * doorbells), per connection, both ends: 6 descriptors (4 since); 2 mappings, both of the memfd (one per side, 516 KiB of address space at the 256 KiB rings of then, 2,052 KiB at 1 MiB
 * each); shared memory (Pss_Shmem) 4 KiB open (the control page), 12 KiB once each has echoed (a page
 * of each ring written), 4 KiB again once idle (each side punches its ring's pages out a second after
 * its last write); Java heap 8.4-8.7 KiB (two channels, their pipelines and links). The whole
 * process's PSS / RSS per connection, run alone: 10.6 / 14.6 KiB open, 18.7 / 30.8 after the echo,
 * 10.8 / 14.8 idle (RSS counts each shared page once per mapping, so twice; in the full test run's
 * warm JVM the anonymous part moves with the collector: 1.1 / 5.1 open). The loops' CPU with all of
 * them idle: 0.2 ms a second, as without connections, since idle shm links leave the loop's turns
 * (their idle release then runs once, not every second). Before that it was 141-894 ms a second: each
 * shm channel had a 1 s idle-release timer, so the two loops woke about 6,500 times a second, and
 * before a loop blocked again it parked every one of its channels' links, after a spin over all of
 * them while its adaptive window was open. Opening them took
 * 1.1-5.3 s (an shm set-up costs the loops 0.3-1.6 ms), the echo under 0.4 s, closing 0.6-0.7 s; the
 * whole test 7-14 s.
 */
@Timeout(600)
class ScaleTest {
    static final int TARGET = Integer.getInteger("vsocket.scale.connections", 10_000);
    /** Connections opened first to measure what one costs in descriptors. */
    private static final int PROBE = 64;
    /** Connects in flight at once (the server's rendezvous takes 256 pending set-ups). */
    private static final int IN_FLIGHT = 64;
    private static final int MESSAGE = 16;
    /** Descriptors left free for the JVM, surefire, the JIT's files. */
    private static final long SPARE_DESCRIPTORS = 300;

    private record Connection(int index, Channel channel, Peers.Collector collector) {
    }

    /** What the process holds at one moment: the counts, every mapping, memory, heap in use. */
    private record Usage(Snapshot counts, long mappings, Map<String, Long> memoryKib, long heapBytes) {
        static Usage take() throws IOException {
            System.gc();
            long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            long mappings;
            try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
                mappings = lines.count();
            }
            return new Usage(Snapshot.take(), mappings, ProcessResources.memoryKib(), heap);
        }

        /** Per connection, from {@code base} to this, over {@code n} connections. */
        String perConnection(Usage base, int n) {
            return String.format(Locale.ROOT, "%.2f descriptors, %.2f memfd mappings, %.2f mappings; RSS %.1f KiB, "
                            + "PSS %.1f KiB (shmem %.1f, anon %.1f); heap %.1f KiB",
                    (double) (counts.descriptors() - base.counts.descriptors()) / n,
                    (double) (counts.memfdMappings() - base.counts.memfdMappings()) / n,
                    (double) (mappings - base.mappings) / n,
                    kib("Rss", base, n), kib("Pss", base, n), kib("Pss_Shmem", base, n), kib("Pss_Anon", base, n),
                    (heapBytes - base.heapBytes) / 1024.0 / n);
        }

        private double kib(String field, Usage base, int n) {
            return (double) (memoryKib.getOrDefault(field, 0L) - base.memoryKib.getOrDefault(field, 0L)) / n;
        }
    }

    @Test
    void manyShmConnectionsOnOneTwoLoopGroup() throws Throwable {
        manyShmConnections(TARGET, false);
    }

    /**
     * All {@value #VM_TARGET} in the SoftRoCE VM (tagged so that it runs there, on shm): its guest
     * starts the tests with a descriptor limit of 65,536, which the build machines cannot give. Slower
     * there (the guest's JVM runs some 17 times slower), and it must open every one of them.
     */
    @Test
    @Tag("softroce")
    void tenThousandShmConnectionsOnOneTwoLoopGroupInTheVm() throws Throwable {
        manyShmConnections(Integer.getInteger("vsocket.scale.vmConnections", VM_TARGET), true);
    }

    private static final int VM_TARGET = 10_000;

    private static void manyShmConnections(int target, boolean all) throws Throwable {
        // The JDK's NativePRNG keeps /dev/random and /dev/urandom open once used (the hello tokens use it).
        new java.security.SecureRandom().nextBytes(new byte[16]);
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        List<Connection> connections = new ArrayList<>();
        try {
            Set<Channel> serverSide = ConcurrentHashMap.newKeySet();
            Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            serverSide.add(ch);
                            ch.closeFuture().addListener(f -> serverSide.remove(ch));
                            ch.pipeline().addLast(Peers.Echo.INSTANCE);
                        }
                    })
                    // The server waits as long as the clients do (Peers): thousands of set-ups queue up.
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            List<Long> loops = ProcessResources.loopThreadIds(group);
            // Warm-up (the rendezvous, the JIT), then count from where the process is.
            List<Connection> warm = open(group, server, 0, 16);
            echo(warm);
            close(warm, serverSide);
            Snapshot before = ProcessResources.awaitStable();
            Usage base = Usage.take();
            int timersBefore = ProcessResources.scheduledTasks(group);

            connections.addAll(open(group, server, 0, PROBE));
            long perConnection = (Snapshot.take().descriptors() - before.descriptors() + PROBE - 1) / PROBE;
            long needed = before.descriptors() + perConnection * target + SPARE_DESCRIPTORS;
            long limit = ProcessResources.raiseDescriptorLimit(needed);
            int count = (int) Math.min(target, PROBE + (limit - Snapshot.take().descriptors() - SPARE_DESCRIPTORS) / perConnection);
            if (all) {
                assertEquals(target, count, "connections the descriptor limit (" + limit + ") lets this process open");
            }
            if (count < target) {
                System.out.printf("ScaleTest: %d connections, not %d: they take %d descriptors each (both ends in this "
                        + "process), %d in all, and the descriptor limit is %d (its hard limit could not be raised: "
                        + "that takes CAP_SYS_RESOURCE)%n", count, target, perConnection, needed, limit);
            }

            long start = System.nanoTime();
            connections.addAll(open(group, server, PROBE, count));
            long openMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(count, connections.size());
            assertEquals(count, serverSide.size(), "server-side channels with every connection open");
            for (Connection c : connections) {
                assertTrue(c.channel.isActive(), () -> "connection " + c.index + " closed while the others opened");
                assertEquals(VSocketLink.SHM, Peers.linkOf(c.channel));
            }
            Usage open = Usage.take();

            start = System.nanoTime();
            echo(connections);
            long echoMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            Usage echoed = Usage.take();
            // Idle: each side punches its ring's pages out a second after its last write.
            Thread.sleep(3 * VSocketLinks.IDLE_RELEASE_MILLIS);
            Usage idle = Usage.take();
            long restCpu = ProcessResources.cpuNanosOver(loops, 1000);

            start = System.nanoTime();
            close(connections, serverSide);
            long closeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            Snapshot after = ProcessResources.awaitSettled(before, 20_000);
            int timersAfter = ProcessResources.scheduledTasks(group);

            System.out.printf(Locale.ROOT, "ScaleTest: %d shm connections (%d channels) on one 2-loop group; open in %d ms, "
                            + "echo in %d ms, close in %d ms%n  per connection, open: %s%n  after the echo: %s%n"
                            + "  idle (rings released): %s%n  loops' CPU at rest with all idle: %.1f ms/s%n  %s -> %s%n",
                    count, 2 * count, openMillis, echoMillis, closeMillis, open.perConnection(base, count),
                    echoed.perConnection(base, count), idle.perConnection(base, count), restCpu / 1e6, before, after);

            assertEquals(2L * count, open.counts.memfdMappings() - base.counts.memfdMappings(),
                    "one memfd mapping per side of every connection");
            assertEquals(perConnection * count, open.counts.descriptors() - base.counts.descriptors(),
                    "descriptors grow by the same amount per connection for " + count + " as for the first " + PROBE);
            assertEquals(before.descriptors(), after.descriptors(), () -> "descriptors: " + before + " -> " + after);
            assertEquals(before.memfdDescriptors(), after.memfdDescriptors(), "memfd descriptors: " + before + " -> " + after);
            assertEquals(before.memfdMappings(), after.memfdMappings(), () -> "memfd mappings: " + before + " -> " + after
                    + "\n" + ProcessResources.memfdLines());
            if (all) {
                // In the VM suite other classes' rdma links may still be lingering when this starts, and
                // their queues' shared mappings go meanwhile; a leak of this test's own would be a memfd
                // mapping (checked above).
                assertTrue(after.sharedMappings() <= before.sharedMappings(), "shared mappings: " + before + " -> " + after);
            } else {
                assertEquals(before.sharedMappings(), after.sharedMappings(), "shared mappings: " + before + " -> " + after);
            }
            assertTrue(timersAfter <= timersBefore, "timers pending on the loops: " + timersBefore + " -> " + timersAfter);
            server.close().sync();
        } finally {
            for (Connection c : connections) {
                c.channel.close();
            }
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** Opens connections {@code from} to {@code to - 1}, {@value #IN_FLIGHT} connects at a time; fails on the first that fails. */
    private static List<Connection> open(EventLoopGroup group, Channel server, int from, int to) throws Exception {
        Semaphore slots = new Semaphore(IN_FLIGHT);
        List<Connection> opened = Collections.synchronizedList(new ArrayList<>());
        AtomicReference<String> failure = new AtomicReference<>();
        for (int i = from; i < to && failure.get() == null; i++) {
            if (!slots.tryAcquire(60, TimeUnit.SECONDS)) {
                fail("no connect completed for 60 s, " + opened.size() + " of " + (to - from) + " open");
            }
            int index = i;
            Peers.Collector collector = new Peers.Collector(MESSAGE);
            Peers.vsocketClient(group, List.of(VSocketLink.SHM), collector).connect(server.localAddress())
                    .addListener((ChannelFutureListener) f -> {
                        if (f.isSuccess()) {
                            opened.add(new Connection(index, f.channel(), collector));
                        } else {
                            failure.compareAndSet(null, "connection " + index + " failed with " + opened.size()
                                    + " of this batch open: " + f.cause());
                        }
                        slots.release();
                    });
        }
        if (!slots.tryAcquire(IN_FLIGHT, 60, TimeUnit.SECONDS)) {
            fail("connects still pending 60 s after the last began, " + opened.size() + " of " + (to - from) + " open");
        }
        if (failure.get() != null) {
            opened.forEach(c -> c.channel.close());
            fail(failure.get());
        }
        return new ArrayList<>(opened);
    }

    /** Every connection sends 16 bytes of its own stream at once; each must come back whole. */
    private static void echo(List<Connection> connections) throws Exception {
        for (Connection c : connections) {
            ByteBuf message = Unpooled.buffer(MESSAGE);
            for (int i = 0; i < MESSAGE; i++) {
                message.writeByte(Peers.streamByte(c.index, i));
            }
            c.channel.writeAndFlush(message);
        }
        List<String> wrong = new ArrayList<>();
        for (Connection c : connections) {
            long crc = c.collector.done.get(60, TimeUnit.SECONDS);
            if (crc != Peers.streamCrc(c.index, MESSAGE) && wrong.size() < 10) {
                wrong.add("connection " + c.index + ": " + c.collector.text());
            }
        }
        assertTrue(wrong.isEmpty(), "echoes that came back wrong: " + wrong);
    }

    /** Closes every client at once and waits until both ends of every connection have closed. */
    private static void close(List<Connection> connections, Set<Channel> serverSide) throws Exception {
        for (Connection c : connections) {
            c.channel.close();
        }
        for (Connection c : connections) {
            assertTrue(c.channel.closeFuture().await(60, TimeUnit.SECONDS), "connection " + c.index + " closed");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!serverSide.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(serverSide.isEmpty(), () -> serverSide.size() + " server-side channels still open 60 s after their clients closed");
        connections.clear();
    }
}
