package io.vsocket.testsuite.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.ServerSocketSuspendTest;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Netty's {@link ServerSocketSuspendTest} on vsocket, servers with plain {@code java.net} clients.
 *
 * <p>Netty's one case, {@code testSuspendAndResumeAccept}, stays disabled as Netty has it: it
 * listens with a backlog of 1 and connects ten clients before it resumes accepting, counting on
 * the later connects to be slowed down, but Linux drops a SYN while the accept queue is full, so
 * the third connect times out after its 10 s on every transport (Netty's NIO fails it the same way
 * here). {@link #testSuspendAndResumeAcceptWithinBacklog} checks the same behaviour in a form Linux
 * allows: connections wait in the backlog while auto-read is off, none is accepted, all are once
 * it is back on, and again after a second suspension.
 */
class VSocketServerSocketSuspendTest extends ServerSocketSuspendTest {
    private static final int NUM_CHANNELS = 10;

    @Override
    protected List<TestsuitePermutation.BootstrapFactory<ServerBootstrap>> newFactories() {
        return VSocketTestPermutation.INSTANCE.serverSocket();
    }

    @Test
    @Disabled("Linux drops a SYN while the accept queue is full: with a backlog of 1 the third of the ten"
            + " connects made before accepting resumes times out (Netty's NIO too); Netty disables it as well."
            + " testSuspendAndResumeAcceptWithinBacklog checks suspend and resume of accept instead")
    @Override
    public void testSuspendAndResumeAccept(TestInfo testInfo) throws Throwable {
        super.testSuspendAndResumeAccept(testInfo);
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void testSuspendAndResumeAcceptWithinBacklog(TestInfo testInfo) throws Throwable {
        run(testInfo, this::testSuspendAndResumeAcceptWithinBacklog);
    }

    private void testSuspendAndResumeAcceptWithinBacklog(ServerBootstrap sb) throws Throwable {
        AcceptedCounter accepted = new AcceptedCounter();
        sb.option(ChannelOption.AUTO_READ, false);
        sb.childHandler(accepted);
        Channel sc = sb.bind().sync().channel();
        List<Socket> sockets = new ArrayList<>();
        try {
            // Suspended from the start: the connections complete in the kernel's backlog only.
            connect(sc, sockets);
            Thread.sleep(500);
            assertEquals(0, accepted.count.get(), "accepted while auto-read was off");

            sc.config().setAutoRead(true);
            accepted.awaitCount(NUM_CHANNELS);

            // Suspended again: the setting takes effect on the loop, so wait for the loop to have run it.
            sc.config().setAutoRead(false);
            sc.eventLoop().submit(() -> { }).sync();
            connect(sc, sockets);
            Thread.sleep(500);
            assertEquals(NUM_CHANNELS, accepted.count.get(), "accepted while auto-read was off again");

            sc.config().setAutoRead(true);
            accepted.awaitCount(2 * NUM_CHANNELS);
        } finally {
            for (Socket s : sockets) {
                s.close();
            }
            sc.close().sync();
        }
    }

    private static void connect(Channel sc, List<Socket> sockets) throws Exception {
        for (int i = 0; i < NUM_CHANNELS; i++) {
            Socket s = new Socket();
            sockets.add(s);
            s.connect(sc.localAddress(), 10000);
        }
    }

    @ChannelHandler.Sharable
    private static final class AcceptedCounter extends ChannelInboundHandlerAdapter {
        final AtomicInteger count = new AtomicInteger();

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            synchronized (this) {
                count.incrementAndGet();
                notifyAll();
            }
        }

        synchronized void awaitCount(int n) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (count.get() < n) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("accepted " + count.get() + " of " + n + " after auto-read was back on");
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }
    }
}
