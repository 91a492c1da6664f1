package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.testsuite.link.HostileShmPeer.Target;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A hostile peer process on shm ({@link HostileShmPeer}): after a valid set-up it writes random
 * values into the connection's shared mapping — cursors, credit, flags, holes, ring bytes, anything —
 * while both sides stream. The victim (a server channel of this process) must close with a
 * {@link RingProtocolException} or keep a correct stream; it must never crash, hang, hand the
 * application memory outside its receive ring, or fail in any other way; a second, honest shm
 * connection on the same event loop (the group has one) must stream correctly throughout and after;
 * and nothing may be left behind (descriptors, memfds, mappings).
 *
 * <p>Each run is one connection: a checked honest phase (four laps of the victim's ring, every byte
 * right), then {@link #SCRIBBLE_MILLIS} of scribbling on one {@link Target}, then a tail of honest
 * streaming and a clean end from the peer (it shuts its output; the victim, which does not allow
 * half-closure, closes once it has read everything). Both sides hold some of what they read for a
 * while, so the rings lend stretches and announce holes; in half the runs the victim also pauses
 * reading now and then (auto-read off), as an application applying backpressure does.
 *
 * <p>Outcomes: the victim cut the link off with a {@code RingProtocolException} (through
 * {@code exceptionCaught}, or as the failure of its writes when it met the error writing, as a TCP
 * write error fails writes); its stream ended early without one (the scribbles said the peer had
 * ended, closed or died: all a peer may say); or it read the whole stream to the peer's planned end.
 *
 * <p>What "a correct stream" means depends on what was scribbled. A store into the victim's receive
 * ring changes bytes in flight, which no receiver can tell from real ones: there each wrong byte must
 * be one the scribbler wrote (no more wrong bytes than bytes scribbled into that ring), and all of the
 * stream must arrive. Where nothing the victim's incoming stream depends on was touched (credit,
 * flags), every byte must be right and none beyond what the peer published; where neither a cursor,
 * a hole nor an end or close mark was touched (ring bytes, parked flags), the whole stream must
 * arrive. A producer cursor moved ahead within the ring's bounds, a hole the peer's own link was
 * tricked into, or credit that let it overwrite unread bytes hand the victim bytes the peer never
 * wrote there, undetectably: for those targets the bytes are not judged, the rest is.
 */
@Timeout(180)
class HostileShmPeerTest {
    private static final int RING = 64 * 1024;
    /** Bytes the victim reads, checked, before the scribbling starts: four laps of its ring. */
    private static final long HONEST_PHASE = 4L * RING;
    private static final long SCRIBBLE_MILLIS = 400;
    private static final long TAIL_MILLIS = 150;
    private static final Target[] TARGETS = {Target.PRODUCER, Target.CREDIT, Target.CURSORS, Target.PARKED,
            Target.FLAGS, Target.HOLES, Target.RING, Target.EVERYTHING};
    /** The base seeds, one run per target each: -Dvsocket.hostile.seeds=1,2,3 to replay or widen. */
    private static final long[] SEEDS = Arrays.stream(System.getProperty("vsocket.hostile.seeds",
            "101,202,303,404,505,606,707,808").split(",")).mapToLong(s -> Long.parseLong(s.trim())).toArray();
    private static final String LOOP_NAME = "victim-loop";

    private static EventLoopGroup group;
    private static Channel victimServer;
    private static Channel pausedVictimServer;
    private static final BlockingQueue<Victim> accepted = new LinkedBlockingQueue<>();
    private static final List<Victim> everyVictim = new CopyOnWriteArrayList<>();
    private static volatile long nextSeed;
    private static Process hostile;
    private static PrintStream toHostile;
    private static BlockingQueue<String> fromHostile;

    @BeforeAll
    static void start() throws Exception {
        new java.security.SecureRandom().nextBytes(new byte[16]); // opens what the JDK keeps open (see ResourceLeakTest)
        group = new VSocketEventLoopGroup(1, new DefaultThreadFactory(LOOP_NAME));
        victimServer = victimServer(true);
        pausedVictimServer = victimServer(false);
    }

    /** A server whose accepted channels are victims; with {@code autoRead} false they never read, nor write. */
    private static Channel victimServer(boolean autoRead) throws InterruptedException {
        return Peers.vsocketServer(group, List.of(VSocketLink.SHM), new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                Victim victim = new Victim(nextSeed, autoRead);
                ch.pipeline().addLast(victim.stream);
                everyVictim.add(victim);
                accepted.add(victim);
            }
        }).childOption(VSocketChannelOption.RING_SIZE, RING).childOption(ChannelOption.AUTO_READ, autoRead)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @AfterAll
    static void stop() throws Exception {
        if (group != null) {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    @BeforeEach
    void startHostile() throws IOException {
        hostile = HostileShmPeer.start();
        toHostile = new PrintStream(hostile.getOutputStream(), true);
        fromHostile = new LinkedBlockingQueue<>();
        BufferedReader lines = new BufferedReader(new InputStreamReader(hostile.getInputStream()));
        Thread reader = new Thread(() -> {
            try {
                String line;
                while ((line = lines.readLine()) != null) {
                    fromHostile.add(line);
                }
            } catch (IOException e) {
                // the process is gone: expect() says so
            }
        }, "hostile-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Ends the hostile process, and closes whatever victim a failed run left open. */
    @AfterEach
    void stopHostile() throws Exception {
        toHostile.close();
        if (!hostile.waitFor(20, TimeUnit.SECONDS)) {
            hostile.destroyForcibly();
            hostile.waitFor(20, TimeUnit.SECONDS);
        }
        for (Victim victim : everyVictim) {
            if (victim.channel != null) {
                victim.channel.close().sync();
            }
        }
        everyVictim.clear();
        accepted.clear();
    }

    @Test
    void aHostilePeerScribblingOnTheSharedMemoryHarmsOnlyItsOwnConnection() throws Exception {
        long began = System.nanoTime();
        try (Honest honest = new Honest()) {
            honest.streamsOn(0, 1 << 20, "at the start");
            // A control run first: it also opens the victim server's rendezvous, before the count.
            report(run(honest, 1, Target.NONE, victimServer));
            ProcessResources.Snapshot before = ProcessResources.awaitStable();

            Map<Target, Map<Outcome, Integer>> outcomes = new EnumMap<>(Target.class);
            for (long seed : SEEDS) {
                for (Target target : TARGETS) {
                    Result result = report(run(honest, seed * 31 + target.ordinal(), target, victimServer));
                    outcomes.computeIfAbsent(target, t -> new EnumMap<>(Outcome.class)).merge(result.outcome(), 1,
                            Integer::sum);
                }
            }
            report(run(honest, 2, Target.NONE, victimServer));
            honest.streamsOn(honest.stream.received(), 1 << 20, "after the hostile runs");

            ProcessResources.Snapshot after = ProcessResources.awaitSettled(before, 5000);
            assertEquals(before, after, () -> "descriptors and memfd mappings after " + SEEDS.length * TARGETS.length
                    + " hostile connections: " + before + " -> " + after + "\n" + ProcessResources.memfdLines());
            System.out.println("HostileShmPeerTest: " + SEEDS.length * TARGETS.length + " hostile runs in "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began) + " ms: " + outcomes);
        }
    }

    /**
     * A victim that does not read (auto-read off) while its peer writes an impossible producer
     * cursor: nothing but the loop's parking of the link, before it blocks, looks at that cursor.
     * The link is broken, so the channel is cut off then, reading or not; it used to be kept, and
     * the loop, told by every park that there was work, never blocked again. (The victim writes
     * nothing here, so that its loop idles, and parks, between the honest connection's turns. The
     * hostile peer rings the doorbell after the poison, as a publish to a parked reader does: a link
     * that had already left its loop's turns looks again only when woken.)
     */
    @Test
    void aVictimThatDoesNotReadIsCutOffWhenItsPeerBreaksTheRing() throws Exception {
        try (Honest honest = new Honest()) {
            honest.streamsOn(0, 256 << 10, "at the start");
            Result result = report(run(honest, 9, Target.POISON, pausedVictimServer));
            assertEquals(Outcome.RING_PROTOCOL_EXCEPTION, result.outcome());
        }
    }

    enum Outcome {
        /** The victim cut the link off with a RingProtocolException. */
        RING_PROTOCOL_EXCEPTION,
        /** The victim's stream ended early without a protocol error: the scribbles said the peer ended, closed or died. */
        PEER_ENDED,
        /** The victim streamed on to the peer's planned end, and got all of it. */
        KEPT_STREAMING
    }

    private record Result(long seed, Target target, Outcome outcome, Report report, long received, long wrong,
                          long lent, String phases) {
    }

    private static Result report(Result r) {
        System.out.printf("seed %5d %-10s %-23s %5d scribbles, victim got %9d of %9d bytes (%8d in place), %d wrong"
                        + " (ms: %s)%s%n", r.seed(), r.target(), r.outcome(), r.report().writes(), r.received(),
                r.report().sent(), r.lent(), r.wrong(), r.phases(),
                r.report().hostileFailed() ? "; the hostile's own link: " + r.report().error() : "");
        return r;
    }

    private static Result run(Honest honest, long seed, Target target, Channel server) throws Exception {
        String id = target + "/" + seed;
        String what = "run " + id;
        long honestBefore = honest.stream.received();
        Phases phases = new Phases();
        nextSeed = seed;
        send("RUN " + id + " " + seed + " " + target + " " + ((InetSocketAddress) server.localAddress()).getPort()
                + " " + RING);
        expect("CONNECTED " + id, 20);
        Victim victim = accepted.poll(10, TimeUnit.SECONDS);
        assertNotNull(victim, what + ": the victim's channel was not accepted");
        assertEquals(seed, victim.seed);
        victim.ready.get(10, TimeUnit.SECONDS);
        assertEquals(VSocketLink.SHM, Peers.linkOf(victim.channel));
        phases.mark("connect");

        PatternStream s = victim.stream;
        if (victim.channel.config().isAutoRead()) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (s.received() < HONEST_PHASE && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertTrue(s.received() >= HONEST_PHASE && s.wrong() == 0 && s.exceptions.isEmpty(),
                    what + ": before any scribble the stream must be exact: " + s);
        }
        phases.mark("honest");
        send("GO " + id + " " + SCRIBBLE_MILLIS);
        expect("STOPPED " + id, 20);
        phases.mark("scribble");
        if (target == Target.POISON) {
            // Seen when the loop next parks the link: at once on a quiet loop, later on a busy machine.
            awaitClosed(victim, 30, what + ": a victim that does not read kept a link whose peer wrote an impossible "
                    + "producer cursor");
            phases.mark("cut off");
        }
        send("END " + id + " " + TAIL_MILLIS);
        Report report = Report.parse(expect("DONE " + id, 40));
        awaitClosed(victim, 10, what + ": the victim's channel is still open after its peer ended its stream and closed");
        assertTrue(report.victimClosed(), what + ": the victim did not close within 10 s of its peer's end of output");
        phases.mark("end");

        String state = what + ": victim " + s + "; the hostile peer published " + report.sent() + " bytes, made "
                + report.writes() + " scribbles (" + report.ringBytes() + " bytes into the victim's ring), its own link: "
                + report.error();
        assertTrue(victim.outsideRing.isEmpty(), () -> "the victim handed the application memory outside its receive "
                + "ring: " + victim.outsideRing + "; " + state);
        for (Throwable t : s.exceptions) {
            if (!ringProtocol(t) && !peerEnded(t)) {
                fail("the victim met an exception that a hostile peer must not cause: " + t + "; " + state, t);
            }
        }
        for (Throwable t : s.writeFailures) {
            if (!(t instanceof IOException)) {
                fail("a write of the victim failed with " + t + "; " + state, t);
            }
        }
        boolean ringProtocol = s.exceptions.stream().anyMatch(HostileShmPeerTest::ringProtocol)
                || s.writeFailures.stream().anyMatch(HostileShmPeerTest::ringProtocol);
        Outcome outcome = ringProtocol ? Outcome.RING_PROTOCOL_EXCEPTION
                : s.exceptions.isEmpty() && s.received() == report.sent() ? Outcome.KEPT_STREAMING : Outcome.PEER_ENDED;
        switch (target) {
            case NONE, RING, PARKED -> {
                // Nothing a cursor or hole of either side depends on was touched, and no mark that ends
                // the stream: lost or spurious doorbells cost time at most (a loop also polls whenever
                // it wakes for anything else, here every millisecond for the writers' timers).
                assertEquals(Outcome.KEPT_STREAMING, outcome, state);
                assertTrue(!report.hostileFailed(), state);
                assertTrue(s.wrong() <= report.ringBytes(), "more wrong bytes than the peer scribbled into the ring: "
                        + state);
                if (target == Target.NONE) {
                    assertTrue(victim.lent > 0, "the control run is to check buffers lent from the ring too: " + state);
                }
            }
            case CREDIT, FLAGS -> {
                assertEquals(0, s.wrong(), state);
                assertTrue(s.received() <= report.sent(), "more bytes than the peer published: " + state);
                if (target == Target.CREDIT && !ringProtocol && !report.hostileFailed()) {
                    // Its credit is all the victim was lied to about: with no error anywhere, it read everything.
                    assertEquals(Outcome.KEPT_STREAMING, outcome, state);
                }
            }
            case POISON -> assertTrue(s.received() <= report.sent(), state);
            default -> {
                // Bytes the peer never wrote can arrive, and no receiver can tell (see the class comment).
            }
        }
        if (target == Target.POISON) {
            honest.check("during " + what);
        } else {
            honest.streamsOn(honestBefore, 64 << 10, "during " + what);
        }
        return new Result(seed, target, outcome, report, s.received(), s.wrong(), victim.lent, phases.toString());
    }

    private static boolean ringProtocol(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof RingProtocolException) {
                return true;
            }
        }
        return false;
    }

    /** What a peer that ended (cleared the mark), closed or died causes: the same as an honest peer's death. */
    private static boolean peerEnded(Throwable t) {
        return t instanceof IOException && t.getMessage() != null
                && (t.getMessage().contains("died") || t.getMessage().contains("reset by peer"));
    }

    /** The victim's end of one hostile connection: its checked stream, and where its receive ring lies. */
    private static final class Victim {
        final long seed;
        final PatternStream stream;
        final List<String> outsideRing = new CopyOnWriteArrayList<>();
        /** Done once the channel is active and its link's ring located. */
        final java.util.concurrent.CompletableFuture<Void> ready;
        volatile Channel channel;
        /** Bytes handed to the application as buffers over the receive ring (loop only). */
        long lent;
        private long mapping;
        private long mappingEnd;
        private long ring;
        private long ringEnd;

        /**
         * With {@code sending} false it writes nothing (its loop then idles between the others' work);
         * with it true and an odd seed, it pauses reading a third of the time.
         */
        Victim(long seed, boolean sending) {
            this.seed = seed;
            this.stream = new PatternStream(HostileShmPeer.victimStream(seed), HostileShmPeer.hostileStream(seed), 0,
                    ~seed, this::inspect);
            if (!sending) {
                stream.stopSending();
            }
            ready = stream.active.thenAccept(ctx -> {
                // On the loop, in channelActive: the link is there, and nothing has been read yet.
                channel = ctx.channel();
                ShmLink link = ShmInternals.link(ctx.channel());
                MemorySegment memory = ShmInternals.memory(link);
                mapping = memory.address();
                mappingEnd = mapping + memory.byteSize();
                ring = mapping + ShmInternals.receiveRingOffset(link);
                ringEnd = ring + link.receiveRingSize();
                if (sending && (seed & 1) != 0) {
                    // Half the runs pause reading now and then, as an application applying backpressure
                    // does: a link that is not read is then looked at only when the loop parks it.
                    java.util.Random random = new java.util.Random(seed);
                    var pauses = ctx.executor().scheduleAtFixedRate(
                            () -> ctx.channel().config().setAutoRead(random.nextInt(3) != 0), 1, 1, TimeUnit.MILLISECONDS);
                    stream.inactive.thenRun(() -> pauses.cancel(false));
                }
            });
        }

        /** A buffer handed to the application that lies in the shared mapping must lie in the receive ring. */
        private void inspect(ByteBuf buf) {
            if (!buf.isDirect() || buf.nioBufferCount() != 1 || !buf.isReadable()) {
                return;
            }
            long from = MemorySegment.ofBuffer(buf.nioBuffer(buf.readerIndex(), buf.readableBytes())).address();
            long to = from + buf.readableBytes();
            if (from < mappingEnd && to > mapping) {
                if (from < ring || to > ringEnd) {
                    outsideRing.add("[+" + (from - mapping) + ", +" + (to - mapping) + ") of the mapping, the ring "
                            + "being [+" + (ring - mapping) + ", +" + (ringEnd - mapping) + ")");
                }
                lent += to - from;
            }
        }
    }

    /** The honest connection: a client of this process echoed by a server of this process, both on the one loop. */
    private static final class Honest implements AutoCloseable {
        final PatternStream stream = new PatternStream(77, 77, 4L * RING, 77, null);
        final Channel server;
        final Channel client;

        Honest() throws Exception {
            server = Peers.vsocketServer(group, List.of(VSocketLink.SHM), Peers.Echo.INSTANCE)
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            client = Peers.vsocketClient(group, List.of(VSocketLink.SHM), stream).connect(server.localAddress())
                    .sync().channel();
            assertEquals(VSocketLink.SHM, Peers.linkOf(client));
            assertTrue(client.eventLoop() == victimServer.eventLoop(), "one loop for every channel");
        }

        /** Waits (boundedly) until {@code more} bytes came back after {@code from}, checking all so far. */
        void streamsOn(long from, long more, String when) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (stream.received() < from + more && System.nanoTime() < deadline && stream.exceptions.isEmpty()) {
                Thread.sleep(2);
            }
            check(when);
            assertTrue(stream.received() >= from + more, () -> "the honest connection on the victim's loop stalled "
                    + when + ": " + (stream.received() - from) + " bytes came back in 20 s, " + stream
                    + "\nthe loop:\n" + loopStack());
        }

        void check(String when) {
            assertTrue(stream.exceptions.isEmpty() && stream.writeFailures.isEmpty() && stream.wrong() == 0,
                    "the honest connection on the victim's loop was harmed " + when + ": " + stream);
            assertTrue(client.isActive(), "the honest connection closed " + when);
        }

        @Override
        public void close() throws InterruptedException {
            client.close().sync();
            server.close().sync();
        }
    }

    /** What one run of the hostile peer reported. */
    private record Report(long sent, long writes, long ringBytes, boolean victimClosed, String error) {
        static Report parse(String line) {
            Map<String, String> field = new HashMap<>();
            String[] parts = line.split(" ", 3)[2].split(" error=", 2);
            for (String pair : parts[0].split(" ")) {
                String[] kv = pair.split("=", 2);
                field.put(kv[0], kv[1]);
            }
            return new Report(Long.parseLong(field.get("sent")), Long.parseLong(field.get("writes")),
                    Long.parseLong(field.get("ringBytes")), Boolean.parseBoolean(field.get("victimClosed")), parts[1]);
        }

        boolean hostileFailed() {
            return !error.equals("-");
        }
    }

    /** How long each phase of a run took, for the report. */
    private static final class Phases {
        private final StringBuilder text = new StringBuilder();
        private long last = System.nanoTime();

        void mark(String phase) {
            long now = System.nanoTime();
            text.append(text.isEmpty() ? "" : ", ").append(phase).append(' ')
                    .append(TimeUnit.NANOSECONDS.toMillis(now - last));
            last = now;
        }

        @Override
        public String toString() {
            return text.toString();
        }
    }

    private static void awaitClosed(Victim victim, int seconds, String why) throws Exception {
        long cpu = loopCpuNanos();
        long began = System.nanoTime();
        try {
            victim.stream.inactive.get(seconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            fail(why + " (" + seconds + " s; the loop's thread ran " + TimeUnit.NANOSECONDS.toMillis(loopCpuNanos() - cpu)
                    + " ms of CPU in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began) + " ms): "
                    + victim.stream + "\nthe loop:\n" + loopStack());
        }
    }

    /** CPU time of the victim's loop thread so far. */
    private static long loopCpuNanos() {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(LOOP_NAME))
                .mapToLong(t -> threads.getThreadCpuTime(t.threadId())).sum();
    }

    /** Where the victim's loop thread is now. */
    private static String loopStack() {
        StringBuilder text = new StringBuilder();
        Thread.getAllStackTraces().forEach((thread, stack) -> {
            if (thread.getName().startsWith(LOOP_NAME)) {
                text.append(thread.getName()).append(' ').append(thread.getState()).append('\n');
                for (StackTraceElement frame : stack) {
                    text.append("    at ").append(frame).append('\n');
                }
            }
        });
        return text.toString();
    }

    private static void send(String command) {
        toHostile.println(command);
        assertTrue(!toHostile.checkError(), () -> "the hostile process is gone (exit " + exitOf(hostile) + ")");
    }

    /** The hostile process's next line, which must start with {@code prefix}; within {@code seconds}. */
    private static String expect(String prefix, int seconds) throws Exception {
        String got = fromHostile.poll(seconds, TimeUnit.SECONDS);
        if (got == null) {
            hostile.destroyForcibly();
            fail("the hostile process did not answer '" + prefix + "' within " + seconds + " s (exit "
                    + exitOf(hostile) + ")");
        }
        assertTrue(got.startsWith(prefix), () -> "expected '" + prefix + "' from the hostile process, got: " + got);
        return got;
    }

    private static String exitOf(Process p) {
        try {
            return p.waitFor(2, TimeUnit.SECONDS) ? String.valueOf(p.exitValue()) : "none yet";
        } catch (InterruptedException e) {
            return "unknown";
        }
    }
}
