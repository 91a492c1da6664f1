package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.buffer.RegisteredMemory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaContext;
import io.vsocket.testsuite.link.ProcessResources.Snapshot;
import io.vsocket.testsuite.softroce.DeviceResources;
import io.vsocket.verbs.AddressHandle;
import io.vsocket.verbs.MemoryWindow;
import io.vsocket.verbs.VerbsResource;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Connect/close churn (issue 14, item 6): {@value #CYCLES} connections, each connecting, echoing a
 * few bytes and closing, on one link at a time, against one vsocket echo server on one
 * {@code VSocketEventLoopGroup(2)} shared by both ends, {@value #IN_FLIGHT} cycles in flight at once.
 * The cycles take turns closing every way a connection ends ({@link Mode}): from the client, from
 * the server, abortively from either side ({@code SO_LINGER} 0: the other side must see a reset),
 * and from the client in the middle of a write it cannot finish. Afterwards the process holds as
 * many descriptors, vsocket memfds and shared mappings as before the churn, every server-side
 * channel is closed, the loops hold no more timers than before, and they are as quiet at rest as
 * before: their CPU over a second of rest, before and after, below {@value #REST_CPU_PERCENT}% of a
 * core in one of up to {@value #REST_LOOKS} seconds in a row (idle loops block in {@code epoll_wait}: about 0.1 ms a second here, however busy the machine,
 * since this is the loops' own CPU time, not a wall-clock measure).
 *
 * <p>It found a bug: a read loop went on after its handler closed the channel, reading through the
 * closed socket's descriptor number, which another loop's accept had often taken by then (a server
 * lost its client's hello marker, a client its echo; see
 * {@code ChannelEdgeTest.aChannelClosedInChannelReadReadsNoMoreThroughItsOldDescriptor}).
 *
 * <p>And a second one: each shm connection left its server's rendezvous a 5 s timer (for a set-up
 * that might never come) that was not cancelled when the set-up came, so for 5 s after the churn the
 * loops woke for thousands of timers: 13-40 ms of CPU a second at rest instead of 0.1.
 *
 * <p>Measured on the 2-core build machine, 10,000 cycles: shm 7-9 s, tcp 2-3 s (the whole class about
 * 16 s).
 *
 * <p>{@code -Dvsocket.churn.cycles=N} changes the count (for a longer run by hand).
 */
@Timeout(300)
class ChurnTest {
    static final int CYCLES = Integer.getInteger("vsocket.churn.cycles", 10_000);
    /** Cycles on the rdma link, in the VM. */
    static final int RDMA_CYCLES = 1_000;
    static final int IN_FLIGHT = 16;
    /** How long verbs counts may take to come back: a closed rdma link lingers for its end, at most 10 s. */
    private static final long SETTLE_MILLIS = 12_000;
    /** The loops' CPU over a second of rest, before and after the churn, must stay below this share of one core. */
    static final int REST_CPU_PERCENT = 1;
    private static final long REST_MILLIS = 1000;
    /**
     * Seconds of rest looked at, at most, until one is under the limit: in the SoftRoCE VM the warm-up's
     * last rdma closes once spilled into the first (13 ms of a 10 ms limit, CI-like full run, 2026-12-03).
     */
    private static final int REST_LOOKS = 3;
    private static final int WARM_UP = 50;
    private static final int REQUEST = 8;
    /** The write a {@link Mode#CLOSE_DURING_WRITE} client closes in the middle of: four times the ring. */
    private static final int LARGE_WRITE = 1 << 20;

    /** How cycle {@code i} ends: {@code Mode.values()[i % 5]}. */
    enum Mode {
        /** The client closes once its echo is back. */
        CLIENT_CLOSE,
        /** The server closes once it has echoed; the client sees the end of stream and closes. */
        SERVER_CLOSE,
        /** The client closes with {@code SO_LINGER} 0 once its echo is back: the server sees a reset. */
        CLIENT_ABORT,
        /** The server closes with {@code SO_LINGER} 0 once it has echoed: the client sees a reset. */
        SERVER_ABORT,
        /** Once its echo is back, the client writes 1 MiB and closes at once, the write unfinished. */
        CLOSE_DURING_WRITE;

        static Mode of(int cycle) {
            return values()[cycle % values().length];
        }

        /** Whether the client must see a reset ({@code IOException}); other modes but one must see no exception. */
        boolean clientSeesReset() {
            return this == SERVER_ABORT;
        }

        /** Whether the server side must see a reset. */
        boolean serverSeesReset() {
            return this == CLIENT_ABORT;
        }
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void connectEchoCloseChurnLeavesNothingBehind(VSocketLink link) throws Exception {
        churnLeavesNothingBehind(link, new InetSocketAddress("127.0.0.1", 0), CYCLES, NO_DEVICE);
    }

    /**
     * The same on the rdma link in the SoftRoCE VM, {@value #RDMA_CYCLES} cycles (the JVM runs about
     * 17 times slower there): besides the process's descriptors and mappings, the device's queue
     * pairs, memory regions, completion queues and shared receive queues ({@code rdma resource
     * show}) and the process's memory windows and address handles (which the device does not report)
     * are back where they were. A closed rdma link lingers until its end of output is acknowledged
     * (at most {@code VSocketLinks.RDMA_LINGER_MILLIS}), so the counts are compared once settled.
     */
    @Test
    @Tag("softroce")
    void rdmaConnectEchoCloseChurnLeavesNothingBehind() throws Exception {
        churnLeavesNothingBehind(VSocketLink.RDMA, new InetSocketAddress(RdmaChannelTest.ADDRESS, 0),
                Integer.getInteger("vsocket.churn.rdmaCycles", RDMA_CYCLES), ChurnTest::verbsCounts);
    }

    private static void churnLeavesNothingBehind(VSocketLink link, InetSocketAddress bind, int cycles,
                                                 Counts device) throws Exception {
        // The JDK's NativePRNG keeps /dev/random and /dev/urandom open once used (the hello tokens use it).
        new java.security.SecureRandom().nextBytes(new byte[16]);
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        try {
            Failures failures = new Failures();
            ServerSide server = new ServerSide(failures);
            // The server waits as long as the clients do (Peers): a loaded machine must not make it give up on them.
            Channel listener = Peers.vsocketServer(group, List.of(link), server.initializer())
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(bind).sync().channel();
            List<Long> loops = ProcessResources.loopThreadIds(group);
            int timersAtStart = ProcessResources.scheduledTasks(group);
            // Warm-up: a round of every mode (the rendezvous, the JIT), then count from where the process is.
            churn(group, link, listener, server, 0, WARM_UP, failures);
            failures.assertNone(link + " warm-up");
            // Closed rdma links of the warm-up may linger (each with its timer) until their end is through.
            awaitTimers(group, timersAtStart, SETTLE_MILLIS);
            Snapshot before = ProcessResources.awaitStable();
            List<String> sharedBefore = ProcessResources.sharedMappingLines();
            Map<String, Integer> deviceBefore = awaitStable(device);
            Set<String> descriptorsBefore = ProcessResources.descriptorTargets();
            int timersBefore = ProcessResources.scheduledTasks(group);
            long limit = REST_MILLIS * 1_000_000 * REST_CPU_PERCENT / 100;
            long restBefore = ProcessResources.cpuNanosAtRest(loops, REST_MILLIS, limit, REST_LOOKS);

            long start = System.nanoTime();
            churn(group, link, listener, server, WARM_UP, WARM_UP + cycles, failures);
            long churnMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            failures.assertNone(link + " churn");
            Snapshot after = ProcessResources.awaitSettled(before, 10_000);
            Map<String, Integer> deviceAfter = awaitEqual(device, deviceBefore, SETTLE_MILLIS);
            // The loops' periodic timers (the rdma stall watch, the staging-ring sweep) run until a
            // period after their last link went: each must have stopped by the end of the settling time.
            int timersAtEnd = ProcessResources.scheduledTasks(group);
            List<String> namesAtEnd = timersAtEnd > timersBefore ? ProcessResources.scheduledTaskNames(group) : List.of();
            awaitTimers(group, timersBefore, SETTLE_MILLIS);
            int timersAfter = ProcessResources.scheduledTasks(group);
            System.out.printf("churn %s: timers right after the churn %d %s%n", link, timersAtEnd, namesAtEnd);
            String timersLeft = timersAfter > timersBefore ? ProcessResources.scheduledTaskNames(group).toString() : "";
            long restAfter = ProcessResources.cpuNanosAtRest(loops, REST_MILLIS, limit, REST_LOOKS);
            System.out.printf("churn %s: %d cycles in %d ms (%.2f ms each, %d in flight); %s -> %s; %s -> %s; loops' CPU "
                            + "at rest %.1f ms/s before, %.1f ms/s after; timers %d -> %d%n", link, cycles, churnMillis,
                    (double) churnMillis / cycles, IN_FLIGHT, before, after, deviceBefore, deviceAfter,
                    restBefore / 1e6, restAfter / 1e6, timersBefore, timersAfter);

            assertEquals(WARM_UP + cycles, server.accepted.get(), "every connection was accepted by the server");
            assertEquals(before.descriptors(), after.descriptors(), () -> "descriptors after " + cycles + " cycles: "
                    + before + " -> " + after + ", new: " + ProcessResources.newDescriptors(descriptorsBefore));
            assertEquals(before.memfdDescriptors(), after.memfdDescriptors(), "memfd descriptors: " + before + " -> " + after);
            assertEquals(before.memfdMappings(), after.memfdMappings(), () -> "memfd mappings: " + before + " -> " + after
                    + "\n" + ProcessResources.memfdLines());
            assertEquals(before.sharedMappings(), after.sharedMappings(), () -> "shared mappings: " + before + " -> "
                    + after + "; " + ProcessResources.mappingChanges(sharedBefore, ProcessResources.sharedMappingLines()));
            assertEquals(deviceBefore, deviceAfter, "verbs objects after " + cycles + " cycles");
            assertTrue(timersAfter <= timersBefore, "timers pending on the loops: " + timersBefore + " -> " + timersAfter
                    + " " + timersLeft);
            assertTrue(restBefore < limit, "the loops used " + restBefore / 1_000_000 + " ms of CPU in "
                    + REST_MILLIS + " ms of rest before the churn (limit " + limit / 1_000_000 + ")");
            assertTrue(restAfter < limit, "the loops used " + restAfter / 1_000_000 + " ms of CPU in "
                    + REST_MILLIS + " ms of rest after " + cycles + " cycles, " + restBefore / 1_000_000
                    + " before (limit " + limit / 1_000_000 + ")");
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** Counts of objects outside the process's descriptors and mappings that a connection could leak. */
    @FunctionalInterface
    private interface Counts {
        Map<String, Integer> now() throws Exception;
    }

    private static final Counts NO_DEVICE = Map::of;

    /** The device's counts of every kind it reports, with this process's open memory windows and address handles. */
    private static Map<String, Integer> verbsCounts() throws Exception {
        Map<String, Integer> counts = new TreeMap<>(DeviceResources.now());
        // The buffer pool's chunks stay registered for as long as the device is open, by design (a
        // chunk the churn's large writes needed is not a connection's leak), and staging rings idle
        // links gave back wait in their loop's pool for a period: neither is a connection's region.
        counts.merge("mr", -RegisteredMemory.shared().chunkCount() - RdmaContext.stagingRingsOpen(), Integer::sum);
        counts.put("staging rings (process)", RdmaContext.stagingRingsOpen());
        counts.put("mw (process)", VerbsResource.openCount(MemoryWindow.class));
        counts.put("ah (process)", VerbsResource.openCount(AddressHandle.class));
        return counts;
    }

    /** Waits until the loops hold at most {@code timers} scheduled tasks, at most {@code millis}. */
    private static void awaitTimers(EventLoopGroup group, int timers, long millis) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (ProcessResources.scheduledTasks(group) > timers && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
    }

    /** The counts once two readings 500 ms apart agree (links of the warm-up still lingering have gone), at most 12 s. */
    private static Map<String, Integer> awaitStable(Counts counts) throws Exception {
        Map<String, Integer> last = counts.now();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(SETTLE_MILLIS);
        while (System.nanoTime() < deadline) {
            Thread.sleep(500);
            Map<String, Integer> now = counts.now();
            if (now.equals(last)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** The counts once they equal {@code target}, or after {@code millis}. */
    private static Map<String, Integer> awaitEqual(Counts counts, Map<String, Integer> target, long millis)
            throws Exception {
        Map<String, Integer> now = counts.now();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (!now.equals(target) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            now = counts.now();
        }
        return now;
    }

    /** Runs cycles {@code from} to {@code to - 1}, {@value #IN_FLIGHT} at a time, recording what went wrong. */
    private static void churn(EventLoopGroup group, VSocketLink link, Channel listener, ServerSide server, int from,
                              int to, Failures failures) throws Exception {
        Semaphore slots = new Semaphore(IN_FLIGHT);
        Map<Integer, Cycle> inFlight = new ConcurrentHashMap<>();
        for (int i = from; i < to && failures.count.get() < 20; i++) {
            if (!slots.tryAcquire(30, TimeUnit.SECONDS)) {
                failures.add("no cycle ended for 30 s; in flight: " + inFlight.values()
                        + "; server-side channels still in their hello: " + server.inHello.keySet());
                return;
            }
            Cycle cycle = new Cycle(i, failures);
            inFlight.put(i, cycle);
            cycle.ended.whenComplete((v, t) -> {
                inFlight.remove(cycle.index);
                slots.release();
            });
            ChannelFuture connect = Peers.vsocketClient(group, List.of(link), cycle)
                    .connect(listener.localAddress());
            connect.addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    failures.add("cycle " + cycle.index + " (" + cycle.mode + "): connect failed: " + f.cause());
                    cycle.ended.complete(null);
                } else {
                    if (Peers.linkOf(f.channel()) != link) {
                        failures.add("cycle " + cycle.index + ": link " + Peers.linkOf(f.channel()) + ", not " + link);
                    }
                    f.channel().closeFuture().addListener(c -> cycle.closed());
                }
            });
        }
        if (!slots.tryAcquire(IN_FLIGHT, 30, TimeUnit.SECONDS)) {
            failures.add("cycles still open 30 s after the last began: " + inFlight.values()
                    + "; server-side channels still in their hello: " + server.inHello.keySet());
            return;
        }
        awaitServerClosed(server, 20, failures);
    }

    /** Waits until every accepted channel has closed. */
    private static void awaitServerClosed(ServerSide server, int seconds, Failures failures) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (server.open.get() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        if (server.open.get() > 0) {
            failures.add(server.open.get() + " server-side channels still open " + seconds
                    + " s after their clients ended: " + server.openOnes.keySet());
        }
    }

    /** Failures recorded on any thread; the first 20 are kept. */
    static final class Failures {
        final AtomicInteger count = new AtomicInteger();
        private final Queue<String> first = new ConcurrentLinkedQueue<>();

        void add(String failure) {
            if (count.incrementAndGet() <= 20) {
                first.add(failure);
            }
        }

        void assertNone(String what) {
            if (count.get() > 0) {
                fail(what + ": " + count.get() + " failures, first:\n  " + String.join("\n  ", first));
            }
        }
    }

    /** A client connection's life: send the request, check the echo, end as its mode says. */
    private static final class Cycle extends ChannelInboundHandlerAdapter {
        final int index;
        final Mode mode;
        final CompletableFuture<Void> ended = new CompletableFuture<>();
        private final Failures failures;
        private final byte[] request = new byte[REQUEST];
        private int received;
        private volatile Throwable caught;
        private volatile String state = "connecting";

        Cycle(int index, Failures failures) {
            this.index = index;
            this.mode = Mode.of(index);
            this.failures = failures;
            request[0] = (byte) mode.ordinal();
            for (int i = 1; i < REQUEST; i++) {
                request[i] = (byte) (index >>> (8 * (i - 1)));
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            state = "echo";
            ctx.writeAndFlush(Unpooled.wrappedBuffer(request));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                while (buf.isReadable() && received < REQUEST) {
                    byte b = buf.readByte();
                    if (b != request[received]) {
                        failures.add(this + ": echo byte " + received + " is " + b + ", sent " + request[received]);
                        ctx.close();
                        return;
                    }
                    received++;
                }
                if (buf.isReadable() && mode != Mode.CLOSE_DURING_WRITE) {
                    failures.add(this + ": " + buf.readableBytes() + " bytes more than the echo");
                }
            } finally {
                buf.release();
            }
            if (received == REQUEST && state.equals("echo")) {
                echoed(ctx);
            }
        }

        private void echoed(ChannelHandlerContext ctx) {
            state = "ending";
            switch (mode) {
                case CLIENT_CLOSE -> ctx.close();
                case CLIENT_ABORT -> {
                    ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                    ctx.close();
                }
                case CLOSE_DURING_WRITE -> {
                    ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[LARGE_WRITE]));
                    ctx.close();
                }
                case SERVER_CLOSE, SERVER_ABORT -> {
                    // the server ends it
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            caught = cause;
            ctx.close();
        }

        /** The client channel has closed: check how. */
        void closed() {
            Throwable t = caught;
            // A server that aborts may do so before its echo is read: the reset may discard it, as over TCP.
            if (received < REQUEST && mode != Mode.SERVER_ABORT) {
                failures.add(this + ": closed after " + received + " of " + REQUEST + " echoed bytes" + (t != null ? ", " + t : ""));
            } else if (mode.clientSeesReset() && !(t instanceof IOException)) {
                failures.add(this + ": the server's abortive close reached the client as " + t + ", not as a reset");
            } else if (!mode.clientSeesReset() && mode != Mode.CLOSE_DURING_WRITE && t != null) {
                failures.add(this + ": unexpected " + t);
            }
            ended.complete(null);
        }

        @Override
        public String toString() {
            return "cycle " + index + " (" + mode + ", " + state + ", " + received + " bytes echoed)";
        }
    }

    /** The echo server's children: echo, and end as the request's mode says; count what they see. */
    static final class ServerSide {
        final AtomicInteger accepted = new AtomicInteger();
        final AtomicInteger open = new AtomicInteger();
        final Map<Channel, Boolean> openOnes = new ConcurrentHashMap<>();
        /** Accepted channels whose hello has not ended yet (not active, not closed). */
        final Map<Channel, Boolean> inHello = new ConcurrentHashMap<>();
        final Failures failures;

        ServerSide(Failures failures) {
            this.failures = failures;
        }

        ChannelInitializer<Channel> initializer() {
            return new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    inHello.put(ch, true);
                    ch.closeFuture().addListener(f -> inHello.remove(ch));
                    ch.pipeline().addLast(new Child());
                }
            };
        }

        private final class Child extends ChannelInboundHandlerAdapter {
            private Mode mode;
            private int echoed;
            private Throwable caught;

            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                accepted.incrementAndGet();
                open.incrementAndGet();
                inHello.remove(ctx.channel());
                openOnes.put(ctx.channel(), true);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf buf = (ByteBuf) msg;
                if (mode == null && buf.isReadable()) {
                    mode = Mode.values()[buf.getByte(buf.readerIndex())];
                }
                int before = echoed;
                echoed += buf.readableBytes();
                ChannelFuture written = ctx.writeAndFlush(buf);
                if (before < REQUEST && echoed >= REQUEST) {
                    if (mode == Mode.SERVER_CLOSE) {
                        written.addListener(ChannelFutureListener.CLOSE);
                    } else if (mode == Mode.SERVER_ABORT) {
                        written.addListener((ChannelFutureListener) f -> {
                            f.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                            f.channel().close();
                        });
                    }
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                if (!ctx.channel().isActive() && mode == null) {
                    // The hello failed: the channel never becomes active, so channelInactive will not tell.
                    failures.add("server side of " + ctx.channel() + ": the hello failed: " + cause);
                }
                caught = cause;
                ctx.close();
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                String what = "server side of " + ctx.channel() + " (" + mode + ", " + echoed + " bytes echoed)";
                if (mode == null) {
                    failures.add(what + ": closed before any request" + (caught != null ? ", " + caught : ""));
                } else if (mode.serverSeesReset() && !(caught instanceof IOException)) {
                    failures.add(what + ": the client's abortive close reached the server as " + caught + ", not as a reset");
                } else if (!mode.serverSeesReset() && mode != Mode.CLOSE_DURING_WRITE && caught != null) {
                    failures.add(what + ": unexpected " + caught);
                }
                openOnes.remove(ctx.channel());
                open.decrementAndGet();
            }
        }
    }
}
