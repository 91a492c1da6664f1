package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RDMA device itself goes away mid-stream ({@code rdma link delete rxe0}, what unloading the
 * driver or a removed adapter does): the connection goes on over its TCP connection with nothing
 * lost or reordered and no error, the process lets go of the device so that its removal finishes
 * (rxe's removal waits for every process that has the device open), and once the device is added
 * again new connections run on it. Runs on its own (tag {@code softroce-removal}, its own VM boot):
 * every other test wants rxe0 there.
 */
@Tag("softroce-removal")
@Timeout(300)
class RdmaDeviceRemovalTest {
    private static final long BYTES = 4L << 20;

    @Test
    void bothStreamsArriveWholeWhenTheDeviceIsRemovedMidStream() throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Peers.Collector fromClient = new Peers.Collector(BYTES);
        Channel server = RdmaFailoverTest.server(group, fromClient, accepted, false);
        try {
            Peers.Collector fromServer = new Peers.Collector(BYTES);
            Channel client = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), fromServer)
                    .option(VSocketChannelOption.RING_SIZE, 16384)
                    .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .connect(server.localAddress()).sync().channel();
            Channel serverChild = accepted.get(30, TimeUnit.SECONDS);
            assertEquals(VSocketLink.RDMA, Peers.awaitLink(client, VSocketLink.RDMA));

            Thread clientWriter = RdmaFailoverTest.writer(client, 1, "client");
            Thread serverWriter = RdmaFailoverTest.writer(serverChild, 2, "server");
            java.util.function.Supplier<String> state = () -> "received " + fromClient.received() + " / "
                    + fromServer.received() + "; " + RdmaFailoverTest.state(client) + "; " + RdmaFailoverTest.state(serverChild)
                    + "\n" + Peers.threadDump();
            RdmaFailoverTest.awaitReceived(fromClient, BYTES / 4, state);
            RdmaFailoverTest.awaitReceived(fromServer, BYTES / 4, state);
            String netdev = netdevOf("rxe0");
            long t0 = System.nanoTime();
            Process delete = new ProcessBuilder("rdma", "link", "delete", "rxe0").redirectErrorStream(true).start();
            try {
                assertEquals(Peers.streamCrc(1, BYTES), fromClient.done.get(60, TimeUnit.SECONDS), "the client's stream");
                assertEquals(Peers.streamCrc(2, BYTES), fromServer.done.get(60, TimeUnit.SECONDS), "the server's stream");
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("streams not whole 60 s after the device's removal began: " + state.get(), e);
            }
            long whole = System.nanoTime() - t0;
            clientWriter.join(30_000);
            serverWriter.join(30_000);
            for (Channel ch : List.of(client, serverChild)) {
                // (Awaited: on a fast run the streams may end before this side has learnt of the removal.)
                assertEquals(VSocketLink.TCP, Peers.awaitLink(ch, VSocketLink.TCP), ch + " runs on tcp now");
                assertEquals(VSocketLink.RDMA, ((VSocketSocketChannel) ch).failedOverFrom(), ch + " came from rdma");
            }
            assertTrue(client.isActive() && serverChild.isActive(), "both channels still open");
            assertTrue(!fromClient.error.isDone() && !fromServer.error.isDone(),
                    () -> "no error at either end: " + fromClient.error.getNow(null) + ", " + fromServer.error.getNow(null));
            // The process let go of the device: its removal finishes (it waits for every process that has it open).
            assertTrue(delete.waitFor(30, TimeUnit.SECONDS), "rdma link delete still waits 30 s later");
            String out = new String(delete.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, delete.exitValue(), "rdma link delete: " + out);
            System.err.printf("PROGRESS device removal: both streams whole %d ms after the delete began, the delete done in %d ms%n",
                    whole / 1_000_000, (System.nanoTime() - t0) / 1_000_000);
            client.close().sync();

            // The device comes back: new connections find it again.
            run("rdma", "link", "add", "rxe0", "type", "rxe", "netdev", netdev);
            Channel echoServer = Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), Peers.Echo.INSTANCE)
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(new InetSocketAddress(RdmaChannelTest.ADDRESS, 0)).sync().channel();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                VSocketLink link = null;
                while (link != VSocketLink.RDMA && System.nanoTime() < deadline) {
                    Peers.Collector echo = new Peers.Collector(8);
                    Channel again = Peers.vsocketClient(group, List.of(VSocketLink.RDMA, VSocketLink.TCP), echo)
                            .option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                            .connect(echoServer.localAddress()).sync().channel();
                    link = Peers.awaitLink(again, VSocketLink.RDMA); // usable over tcp at once, rdma when the hello completes
                    again.writeAndFlush(io.netty.buffer.Unpooled.buffer(8).writeLong(42));
                    echo.done.get(30, TimeUnit.SECONDS);
                    assertEquals(8, echo.received(), "the echo came back");
                    again.close().sync();
                    if (link != VSocketLink.RDMA) {
                        Thread.sleep(1000);
                    }
                }
                assertEquals(VSocketLink.RDMA, link, "a new connection runs on the device added again");
            } finally {
                echoServer.close().sync();
            }
        } finally {
            server.close().sync();
            long t = System.nanoTime();
            if (!group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(60, TimeUnit.SECONDS)) {
                System.err.println("the group did not shut down within 60 s:\n" + Peers.threadDump());
            }
            System.err.printf("PROGRESS device removal: the group shut down in %d ms%n", (System.nanoTime() - t) / 1_000_000);
        }
    }


    /** The network device {@code rdmaDevice} runs over, from {@code rdma link show}. */
    private static String netdevOf(String rdmaDevice) throws Exception {
        String out = run("rdma", "link", "show", rdmaDevice + "/1");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("netdev (\\S+)").matcher(out);
        assertTrue(m.find(), "no netdev in: " + out);
        return m.group(1);
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " still runs after 60 s");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
        return out;
    }
}
