package io.vsocket.testsuite.link;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nothing an shm connection holds outlives it: after many connections open and close, the
 * process has as many descriptors, memfds and shared mappings as before; and after the group
 * shuts down, none of the group's own.
 */
@Timeout(120)
class ResourceLeakTest {
    private static final int CONNECTIONS = 64;

    @Test
    void shmConnectionsLeaveNothingBehind() throws Exception {
        // The JDK's NativePRNG keeps /dev/random and /dev/urandom open once used (the hello tokens use
        // it): open them before counting.
        new java.security.SecureRandom().nextBytes(new byte[16]);
        Snapshot beforeGroup = Snapshot.take();
        java.util.Set<String> fdsBeforeGroup = Snapshot.targets();
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        // One connection first: it creates the server's rendezvous and warms everything up.
        closeAll(roundTrip(group, server, 1));
        // Other test classes of this JVM may keep half-closed connections open (as they would keep TCP
        // sockets): count from wherever the process is once the warm-up connection is gone.
        Snapshot before = awaitStable();

        List<Channel> clients = roundTrip(group, server, CONNECTIONS);
        Snapshot open = Snapshot.take();
        assertTrue(open.memfds() - before.memfds() >= 2L * CONNECTIONS,
                "each open connection maps its memfd on both sides: " + before + " -> " + open);
        closeAll(clients);

        Snapshot after = awaitSettled(before);
        assertEquals(before.descriptors(), after.descriptors(), "descriptors: " + before + " -> " + after);
        assertEquals(before.memfds(), after.memfds(), () -> "memfd descriptors and mappings: " + before + " -> " + after
                + "\n" + Snapshot.memfdLines());
        assertEquals(0, clients.stream().filter(Channel::isOpen).count());

        server.close().sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        Snapshot afterGroup = awaitSettled(beforeGroup);
        assertEquals(beforeGroup.descriptors(), afterGroup.descriptors(),
                () -> "the group's epoll, eventfds, rendezvous: " + beforeGroup + " -> " + afterGroup + ", new: "
                        + newTargets(fdsBeforeGroup));
        assertEquals(beforeGroup.memfds(), afterGroup.memfds());
    }

    private static List<Channel> roundTrip(EventLoopGroup group, Channel server, int count) throws Exception {
        List<Channel> clients = new ArrayList<>();
        List<Peers.Collector> collectors = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Peers.Collector collector = new Peers.Collector(3);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.SHM), collector)
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1, 2, 3}));
            clients.add(client);
            collectors.add(collector);
        }
        for (Peers.Collector collector : collectors) {
            collector.done.get(20, TimeUnit.SECONDS);
        }
        return clients;
    }

    private static void closeAll(List<Channel> clients) throws InterruptedException {
        for (Channel client : clients) {
            client.close().sync();
        }
    }

    /** Waits until two snapshots 100 ms apart agree (the warm-up connection's server side has closed). */
    static Snapshot awaitStable() throws Exception {
        Snapshot last = Snapshot.take();
        for (int i = 0; i < 50; i++) {
            Thread.sleep(100);
            Snapshot now = Snapshot.take();
            if (now.equals(last)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** Closing is asynchronous on the server side: wait (boundedly) for the counts to come back. */
    static Snapshot awaitSettled(Snapshot target) throws Exception {
        Snapshot now = Snapshot.take();
        for (int i = 0; i < 100 && !now.equals(target); i++) {
            Thread.sleep(50);
            now = Snapshot.take();
        }
        return now;
    }

    private static String newTargets(java.util.Set<String> before) {
        try {
            java.util.Set<String> now = Snapshot.targets();
            now.removeAll(before);
            return now.toString();
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** Open descriptors, and memfd descriptors plus memfd mappings, of this process. */
    record Snapshot(long descriptors, long memfds) {
        static java.util.Set<String> targets() throws IOException {
            java.util.Set<String> targets = new java.util.TreeSet<>();
            try (Stream<Path> list = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : list.toList()) {
                    try {
                        targets.add(fd.getFileName() + "->" + Files.readSymbolicLink(fd));
                    } catch (IOException e) {
                        // gone meanwhile
                    }
                }
            }
            return targets;
        }

        static String memfdLines() {
            try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
                return String.join("\n", maps.filter(line -> line.contains("/memfd:vsocket")).toList());
            } catch (IOException e) {
                return e.toString();
            }
        }

        static Snapshot take() throws IOException {
            long fds;
            long memfds = 0;
            try (Stream<Path> list = Files.list(Path.of("/proc/self/fd"))) {
                List<Path> entries = list.toList();
                fds = entries.size();
                for (Path fd : entries) {
                    try {
                        if (Files.readSymbolicLink(fd).toString().startsWith("/memfd:vsocket")) {
                            memfds++;
                        }
                    } catch (IOException e) {
                        // the descriptor of the listing itself, gone by now
                    }
                }
            }
            try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
                memfds += maps.filter(line -> line.contains("/memfd:vsocket")).count();
            }
            return new Snapshot(fds, memfds);
        }
    }
}
