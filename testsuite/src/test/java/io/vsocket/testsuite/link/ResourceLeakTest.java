package io.vsocket.testsuite.link;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import io.vsocket.testsuite.link.ProcessResources.Snapshot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Nothing an shm connection holds outlives it: after many connections open and close, the
 * process has as many descriptors, memfds and shared mappings as before, and the loops as many
 * timers; and after the group shuts down, none of the group's own.
 */
@Timeout(120)
class ResourceLeakTest {
    private static final int CONNECTIONS = 64;

    @Test
    void shmConnectionsLeaveNothingBehind() throws Exception {
        // The JDK's NativePRNG keeps /dev/random and /dev/urandom open once used (the hello tokens use
        // it): open them before counting.
        new java.security.SecureRandom().nextBytes(new byte[16]);
        // The loops' busy-host check keeps /proc/loadavg open from the first loop on (FreeCores): open it too.
        new VSocketEventLoopGroup(1).shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        Snapshot beforeGroup = Snapshot.take();
        java.util.Set<String> fdsBeforeGroup = ProcessResources.descriptorTargets();
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        Channel server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), Peers.Echo.INSTANCE)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        // One connection first: it creates the server's rendezvous and warms everything up.
        closeAll(roundTrip(group, server, 1));
        // Other test classes of this JVM may keep half-closed connections open (as they would keep TCP
        // sockets): count from wherever the process is once the warm-up connection is gone.
        Snapshot before = ProcessResources.awaitStable();
        int timersBefore = ProcessResources.scheduledTasks(group);

        List<Channel> clients = roundTrip(group, server, CONNECTIONS);
        Snapshot open = Snapshot.take();
        assertTrue(open.memfds() - before.memfds() >= 2L * CONNECTIONS,
                "each open connection maps its memfd on both sides: " + before + " -> " + open);
        closeAll(clients);

        Snapshot after = ProcessResources.awaitSettled(before, 5000);
        assertEquals(before.descriptors(), after.descriptors(), "descriptors: " + before + " -> " + after);
        assertEquals(before.memfds(), after.memfds(), () -> "memfd descriptors and mappings: " + before + " -> " + after
                + "\n" + ProcessResources.memfdLines());
        assertEquals(0, clients.stream().filter(Channel::isOpen).count());
        // Timers are resources too: no connection leaves one behind (the server's rendezvous once left a
        // 5 s timer per connection, which fired after its set-up was long done).
        int timersAfter = ProcessResources.scheduledTasks(group);
        assertTrue(timersAfter <= timersBefore, "timers pending on the loops: " + timersBefore + " -> " + timersAfter);

        server.close().sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        Snapshot afterGroup = ProcessResources.awaitSettled(beforeGroup, 5000);
        assertEquals(beforeGroup.descriptors(), afterGroup.descriptors(),
                () -> "the group's epoll, eventfds, rendezvous: " + beforeGroup + " -> " + afterGroup + ", new: "
                        + ProcessResources.newDescriptors(fdsBeforeGroup));
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
}
