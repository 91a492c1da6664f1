package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A hostile shm peer in a process of its own. It sets up a valid shm connection as a vsocket client
 * (it creates the memfd and sends it, as every client does), streams a checked pattern both ways,
 * and then, on command, writes random values into the shared mapping of that connection — cursors,
 * credit, flags, holes, ring bytes, anything — while it goes on streaming.
 *
 * <p>How it reaches the memory: through its own {@link ShmLink}'s mapping ({@link ShmInternals}, by
 * reflection: no door in the transport). That is the very mapping of the memfd the victim mapped,
 * so every store lands where a peer process that kept the descriptor, or mapped it twice, would put
 * it; and since the segment belongs to the link's region, a store after the link unmapped throws
 * {@link IllegalStateException} here instead of faulting this process.
 *
 * <p>Commands on standard input, one per line, answers on standard output:
 * <pre>
 * RUN id seed target port ringSize     connect (shm only), stream      -> CONNECTED id
 * GO id millis                         scribble for millis              -> STOPPED id
 * END id tailMillis                    stream on, shut output, wait for the victim to close
 *                                      -> DONE id sent=S received=R writes=W ringBytes=B victimClosed=V error=E
 * </pre>
 * (S: bytes of its stream its link published; B: bytes scribbled into the client-to-server ring, the
 * victim's receive ring; E: the first exception its own channel met, or protocol error its writes met,
 * or {@code -}). It exits when its standard input closes.
 */
public final class HostileShmPeer {
    /** Where the scribbles go. The layout is {@link ShmLink}'s (its class comment), seen from the client. */
    enum Target {
        /** Nothing: the control run. */
        NONE,
        /** The producer cursor of the victim's receive ring. */
        PRODUCER,
        /** The consumer cursor the victim reads as its credit. */
        CREDIT,
        /** All four cursor words (producer and consumer, both directions). */
        CURSORS,
        /** The four parked flags (ring me when you write, ring me when you credit): lost and spurious doorbells. */
        PARKED,
        /** Parked flags, end-of-output marks and closed marks, both sides. */
        FLAGS,
        /** Both hole queues: counts, lending flags, entries (random, and well-formed announcements). */
        HOLES,
        /** Bytes of both rings. */
        RING,
        /** Any width at any offset of the mapping, control page and rings. */
        EVERYTHING,
        /** One impossible producer cursor (past the ring's credit), written once while the stream is stopped. */
        POISON
    }

    static final long C2S_PRODUCER = 0;
    static final long C2S_CONSUMER = 64;
    static final long S2C_PRODUCER = 256;
    static final long S2C_CONSUMER = 320;
    static final long[] CURSOR_WORDS = {C2S_PRODUCER, C2S_CONSUMER, S2C_PRODUCER, S2C_CONSUMER};
    /** Parked flags (receiver, sender; both directions), output-done and closed marks (client, server). */
    static final long[] FLAG_WORDS = {128, 192, 384, 448, 512, 576, 640, 704};
    /** The hole queues: the victim's (the client writes around its loans) and the client's own. */
    static final long C2S_HOLES = 1024;
    static final long S2C_HOLES = 2048;
    static final int HOLE_SLOTS = 32;
    static final long HEADER = 4096;

    private HostileShmPeer() {
    }

    public static void main(String[] args) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        PrintStream out = System.out;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Connection connection = null;
        try {
            String line;
            while ((line = in.readLine()) != null) {
                String[] word = line.trim().split(" ");
                switch (word[0]) {
                    case "RUN" -> {
                        connection = new Connection(group, word[1], Long.parseLong(word[2]), Target.valueOf(word[3]),
                                Integer.parseInt(word[4]), Integer.parseInt(word[5]));
                        out.println("CONNECTED " + word[1]);
                    }
                    case "GO" -> {
                        connection.scribble(Long.parseLong(word[2]));
                        out.println("STOPPED " + word[1]);
                    }
                    case "END" -> {
                        out.println("DONE " + word[1] + " " + connection.end(Long.parseLong(word[2])));
                        connection = null;
                    }
                    default -> throw new IllegalArgumentException("unknown command: " + line);
                }
                out.flush();
            }
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
    }

    /** Starts one (run by {@code java} with the test's class path); talk to it through its streams. */
    static Process start() throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC", "-cp", System.getProperty("vsocket.test.classpath",
                System.getProperty("java.class.path")), HostileShmPeer.class.getName())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** One connection to the victim, and the scribbling on its mapping. */
    private static final class Connection {
        private final Channel channel;
        private final PatternStream stream;
        private final Scribbler scribbler;

        Connection(EventLoopGroup group, String id, long seed, Target target, int port, int ringSize)
                throws InterruptedException {
            stream = new PatternStream(hostileStream(seed), victimStream(seed), 0, seed, null);
            channel = Peers.vsocketClient(group, List.of(VSocketLink.SHM), stream)
                    .option(VSocketChannelOption.RING_SIZE, ringSize)
                    .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
            ShmLink link = ShmInternals.link(channel);
            if (link == null) {
                throw new IllegalStateException("run " + id + ": the connection is not on shm: " + Peers.linkOf(channel));
            }
            scribbler = new Scribbler(ShmInternals.memory(link), target, new Random(seed), ringSize,
                    link.sendRingSize(), () -> ShmInternals.ringPeer(link));
        }

        void scribble(long millis) {
            if (scribbler.target == Target.POISON) {
                // Once the victim's ring is full (it does not read, so no credit comes back), no
                // publish of the link's own can cover the poison before the victim looks.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (stream.sent() < scribbler.victimRing && System.nanoTime() < deadline) {
                    LockSupport.parkNanos(1_000_000);
                }
                stream.stopSending();
                scribbler.poison();
                return;
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            while (scribbler.target != Target.NONE && System.nanoTime() < deadline && scribbler.one()) {
                LockSupport.parkNanos(scribbler.random.nextInt(300_000));
            }
        }

        String end(long tailMillis) throws Exception {
            // Scribbling is over: the stream goes on for a while, then ends cleanly, and the victim,
            // which does not allow half-closure, closes once it has read all of it.
            if (channel.isActive()) {
                Thread.sleep(tailMillis);
            }
            stream.stopSending();
            if (channel.isActive()) {
                ((SocketChannel) channel).shutdownOutput().await(5, TimeUnit.SECONDS);
            }
            boolean victimClosed = channel.closeFuture().await(10, TimeUnit.SECONDS);
            channel.close().await(5, TimeUnit.SECONDS);
            stream.inactive.get(5, TimeUnit.SECONDS);
            // Its own link's protocol errors, met reading (exceptionCaught) or writing (failed writes).
            Throwable error = stream.exceptions.isEmpty() ? stream.writeFailures.stream()
                    .filter(t -> t instanceof RingProtocolException || t.getCause() instanceof RingProtocolException)
                    .findFirst().orElse(null) : stream.exceptions.get(0);
            return "sent=" + stream.sent() + " received=" + stream.received() + " writes=" + scribbler.writes
                    + " ringBytes=" + scribbler.victimRingBytes + " victimClosed=" + victimClosed + " error="
                    + (error == null ? "-" : error.toString().replace('\n', ' '));
        }
    }

    /** The stream the hostile peer sends in run {@code seed}. */
    static long hostileStream(long seed) {
        return seed * 2 + 1;
    }

    /** The stream the victim sends in run {@code seed}. */
    static long victimStream(long seed) {
        return seed * 2 + 2;
    }

    /** Random stores into one connection's mapping, as {@link Target} says. */
    private static final class Scribbler {
        final Target target;
        final Random random;
        private final MemorySegment shm;
        final int victimRing;
        private final int ownRing;
        long writes;
        long victimRingBytes;

        /** Rings the victim's doorbell. */
        private final Runnable ring;

        Scribbler(MemorySegment shm, Target target, Random random, int ownRing, int victimRing, Runnable ring) {
            this.shm = shm;
            this.ring = ring;
            this.target = target;
            this.random = random;
            this.ownRing = ownRing;
            this.victimRing = victimRing;
        }

        /** One scribble; false once the mapping is gone (the link closed). */
        boolean one() {
            try {
                switch (target) {
                    case PRODUCER -> cursor(C2S_PRODUCER);
                    case CREDIT -> cursor(S2C_CONSUMER);
                    case CURSORS -> cursor(CURSOR_WORDS[random.nextInt(CURSOR_WORDS.length)]);
                    case PARKED -> flag(FLAG_WORDS[random.nextInt(4)]);
                    case FLAGS -> flag(FLAG_WORDS[random.nextInt(FLAG_WORDS.length)]);
                    case HOLES -> holes(random.nextBoolean() ? C2S_HOLES : S2C_HOLES);
                    case RING -> ringBytes();
                    case EVERYTHING -> anything();
                    default -> throw new IllegalStateException(target.name());
                }
                writes++;
                return true;
            } catch (IllegalStateException e) {
                // Unmapped: the link is closed. When that happened during this store, the JDK stopped
                // it with this exception from the arena's close and, as it does for an asynchronous
                // exception, interrupted this thread too: clear that, or the next wait here fails.
                Thread.interrupted();
                return false;
            }
        }

        void poison() {
            try {
                long producer = shm.get(JAVA_LONG_UNALIGNED, C2S_PRODUCER);
                shm.set(JAVA_LONG_UNALIGNED, C2S_PRODUCER, producer + 4L * victimRing);
                writes++;
                // And the doorbell, as a publish to a parked reader rings it: a victim whose link had
                // already left its loop's turns (idle for a millisecond while the loop spun for others)
                // looks at the cursor only when woken, and a peer that never rings harms only its own
                // stream. Woken, the link parks again before the loop blocks, which must cut it off.
                ring.run();
            } catch (IllegalStateException e) {
                Thread.interrupted(); // unmapped (see one())
            }
        }

        private int ringOf(long word) {
            return word < S2C_PRODUCER ? victimRing : ownRing;
        }

        /** A cursor word: any value, or one near its own, near the other cursor of its ring, or a special one. */
        private void cursor(long at) {
            int ring = ringOf(at);
            long value = switch (random.nextInt(6)) {
                case 0 -> random.nextLong();
                case 1 -> shm.get(JAVA_LONG_UNALIGNED, at ^ 64) + random.nextLong(-2L * ring, 2L * ring + 1);
                case 2 -> new long[] {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE, ring, ring / 2}[random.nextInt(7)];
                default -> shm.get(JAVA_LONG_UNALIGNED, at) + random.nextLong(-2L * ring, 2L * ring + 1);
            };
            shm.set(JAVA_LONG_UNALIGNED, at, value);
        }

        private void flag(long at) {
            int value = switch (random.nextInt(4)) {
                case 0 -> 0;
                case 1 -> random.nextInt();
                default -> 1;
            };
            shm.set(JAVA_INT_UNALIGNED, at, value);
        }

        /** A hole queue: its count, its lending flag, an entry, or a well-formed new announcement. */
        private void holes(long queue) {
            long producer = queue == C2S_HOLES ? C2S_PRODUCER : S2C_PRODUCER;
            int ring = queue == C2S_HOLES ? victimRing : ownRing;
            long announced = shm.get(JAVA_LONG_UNALIGNED, queue);
            switch (random.nextInt(5)) {
                case 0 -> shm.set(JAVA_LONG_UNALIGNED, queue, random.nextBoolean() ? random.nextLong()
                        : announced + random.nextInt(-2, 4));
                case 1 -> shm.set(JAVA_INT_UNALIGNED, queue + 8, random.nextBoolean() ? 1 : random.nextInt());
                case 2 -> shm.set(JAVA_LONG_UNALIGNED, queue + 64 + 16L * random.nextInt(HOLE_SLOTS)
                        + (random.nextBoolean() ? 0 : 8), random.nextLong());
                default -> {
                    // What a receiver announcing a loan's next lap writes, with a start ahead of the writer.
                    long start = shm.get(JAVA_LONG_UNALIGNED, producer) + random.nextInt(2 * ring);
                    long end = start + 1 + random.nextInt(random.nextInt(8) == 0 ? ring : ring / 2);
                    long entry = queue + 64 + 16L * (int) Math.floorMod(announced, (long) HOLE_SLOTS);
                    shm.set(JAVA_LONG_UNALIGNED, entry, start);
                    shm.set(JAVA_LONG_UNALIGNED, entry + 8, end);
                    shm.set(JAVA_LONG_UNALIGNED, queue, announced + 1);
                }
            }
        }

        private void ringBytes() {
            boolean victims = random.nextInt(3) != 0;
            int ring = victims ? victimRing : ownRing;
            int n = 1 + random.nextInt(64);
            long at = HEADER + (victims ? 0 : victimRing) + random.nextInt(ring - n + 1);
            bytes(at, n);
            if (victims) {
                victimRingBytes += n;
            }
        }

        private void bytes(long at, int n) {
            byte[] garbage = new byte[n];
            random.nextBytes(garbage);
            MemorySegment.copy(garbage, 0, shm, JAVA_BYTE, at, n);
        }

        /** Any offset, any width: header fields torn, parts of words, runs of bytes across fields and rings. */
        private void anything() {
            long size = shm.byteSize();
            long at = random.nextInt(4) == 0 ? random.nextLong(size) : random.nextInt((int) HEADER);
            switch (random.nextInt(4)) {
                case 0 -> {
                    int n = (int) Math.min(1 + random.nextInt(64), size - at);
                    bytes(at, n);
                    countVictimRing(at, n);
                }
                case 1 -> {
                    at = Math.min(at, size - 4);
                    shm.set(JAVA_INT_UNALIGNED, at, random.nextBoolean() ? random.nextInt() : random.nextInt(3));
                    countVictimRing(at, 4);
                }
                default -> {
                    at = Math.min(at & ~7L, size - 8);
                    long near = shm.get(JAVA_LONG_UNALIGNED, at) + random.nextLong(-2L * victimRing, 2L * victimRing);
                    shm.set(JAVA_LONG_UNALIGNED, at, random.nextBoolean() ? random.nextLong() : near);
                    countVictimRing(at, 8);
                }
            }
        }

        private void countVictimRing(long at, int n) {
            long from = Math.max(at, HEADER);
            long to = Math.min(at + n, HEADER + victimRing);
            victimRingBytes += Math.max(0, to - from);
        }
    }
}
