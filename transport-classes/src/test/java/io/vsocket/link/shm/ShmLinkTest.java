package io.vsocket.link.shm;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.link.SharedArenaCloser;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.RingSource;
import io.vsocket.unix.Epoll;
import io.vsocket.unix.Doorbell;
import io.vsocket.unix.EventFd;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.unix.MappedRegion;
import io.vsocket.unix.MemFd;
import io.vsocket.unix.NativeIoException;
import io.vsocket.unix.NativeSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One shm link with both sides in this process: the client side from {@link ShmLink#offer}, the
 * server side from {@link ShmLink#attach} on duplicates of the offered descriptors.
 */
class ShmLinkTest {
    private static final int RING = 4096;
    /** Offsets in the shared header page, per the layout comment in {@link ShmLink}. */
    private static final long TO_SERVER = 0;
    private static final long TO_CLIENT = 256;
    private static final long PRODUCER = 0;
    private static final long CONSUMER = 64;
    private static final long RECEIVER_PARKED = 128;
    private static final long CLIENT_OUTPUT_DONE = 512;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    /** Both ends of one link, and (optionally) a third mapping of its memory to look at or tamper with. */
    private record Pair(ShmLink client, ShmLink server, MappedRegion spy) implements AutoCloseable {
        MemorySegment shared() {
            return spy.segment();
        }

        @Override
        public void close() throws Exception {
            client.close();
            server.close();
            if (spy != null) {
                spy.close();
            }
        }
    }

    private static Pair connect(int clientRing, int serverRing, boolean spy) throws Exception {
        MappedRegion[] spyRegion = new MappedRegion[1];
        InProcessShm.Sides sides = InProcessShm.connect(clientRing, serverRing, memFd -> {
            if (spy) {
                try (MemFd mine = MemFd.adopt(FileDescriptors.duplicate(memFd))) {
                    spyRegion[0] = mine.map();
                }
            }
        });
        return new Pair(sides.client(), sides.server(), spyRegion[0]);
    }

    /** An edge-triggered watch on each link's doorbell, as the loop's (made when the pair opens). */
    private final Map<ShmLink, Epoll> bells = new IdentityHashMap<>();

    private Pair open(int clientRing, int serverRing, boolean spy) throws Exception {
        Pair pair = connect(clientRing, serverRing, spy);
        toClose.add(pair);
        watch(pair.client());
        watch(pair.server());
        return pair;
    }

    private void watch(ShmLink link) throws NativeIoException {
        Epoll epoll = Epoll.create(1);
        toClose.add(epoll);
        epoll.add(link.doorbellFd(), LibC.EPOLLIN | LibC.EPOLLET, 7);
        assertEquals(0, epoll.wait(0), "a doorbell starts quiet");
        bells.put(link, epoll);
    }

    /**
     * Whether {@code link}'s doorbell rang since the last look (a ring wakes an edge-triggered watcher
     * each time; rings between two looks count once). Answers it, as the loop does.
     */
    private boolean rung(ShmLink link) throws NativeIoException {
        int n = bells.get(link).wait(0);
        link.answerDoorbell();
        return n == 1 && (bells.get(link).readyEvents(0) & LibC.EPOLLIN) != 0;
    }

    private static byte pattern(long index) {
        return (byte) ((index * 0x9E37_79B9L) >>> 11 ^ index);
    }

    private static ByteBuf bytes(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.UTF_8);
    }

    private static String readString(ShmLink link, int max) throws RingProtocolException {
        int n = Math.min(max, link.readable());
        ByteBuf dst = Unpooled.buffer(n);
        assertEquals(n, link.read(dst, 0, n));
        dst.writerIndex(n);
        return dst.toString(StandardCharsets.UTF_8);
    }

    @Test
    void sizesAreAsOffered() throws Exception {
        Pair p = open(4096, 16384, false);
        assertEquals(4096, p.client().receiveRingSize());
        assertEquals(16384, p.client().sendRingSize());
        assertEquals(16384, p.server().receiveRingSize());
        assertEquals(4096, p.server().sendRingSize());
        assertEquals(16384, p.client().credit());
        assertEquals(4096, p.server().credit());
        assertEquals(4096 + 4096 + 16384, ShmLink.regionSize(4096, 16384));
    }

    @Test
    void publishedBytesArriveIntact() throws Exception {
        Pair p = open(RING, RING, false);
        ByteBuf src = bytes("xxhello, shm!yy");
        assertEquals(11, p.client().write(src, 2, 11), "index and length select the bytes");
        assertEquals(0, src.readerIndex(), "write does not move the source's indexes");
        p.client().publish();
        assertEquals(11, p.server().readable());
        ByteBuf dst = Unpooled.buffer(32).writeZero(32);
        assertEquals(11, p.server().read(dst, 5, 100), "read stops at what is readable");
        assertEquals(32, dst.writerIndex(), "read does not move the destination's indexes");
        assertEquals("hello, shm!", dst.toString(5, 11, StandardCharsets.UTF_8));
        assertEquals(0, dst.getByte(4));
        assertEquals(0, dst.getByte(16));
        assertEquals(0, p.server().readable());
    }

    @Test
    void theDocumentedLayout() throws Exception {
        Pair p = open(RING, 2 * RING, true);
        p.client().write(bytes("to-server"), 0, 9);
        p.client().publish();
        p.server().write(bytes("to-client!"), 0, 10);
        p.server().publish();
        MemorySegment shared = p.shared();
        assertEquals(9, shared.get(JAVA_LONG, TO_SERVER + PRODUCER), "client-to-server producer at 0");
        assertEquals(10, shared.get(JAVA_LONG, TO_CLIENT + PRODUCER), "server-to-client producer at 256");
        byte[] toServer = new byte[9];
        MemorySegment.copy(shared, JAVA_BYTE, ShmLink.HEADER_SIZE, toServer, 0, 9);
        assertEquals("to-server", new String(toServer, StandardCharsets.UTF_8), "the server's ring comes first");
        byte[] toClient = new byte[10];
        MemorySegment.copy(shared, JAVA_BYTE, ShmLink.HEADER_SIZE + 2L * RING, toClient, 0, 10);
        assertEquals("to-client!", new String(toClient, StandardCharsets.UTF_8), "then the client's ring");

        assertEquals("to-server", readString(p.server(), 100));
        p.server().returnCreditNow();
        assertEquals(9, shared.get(JAVA_LONG, TO_SERVER + CONSUMER), "the credit the server returned");
    }

    /** Random-sized writes, publishes, reads and credit returns in both directions, across many wraps. */
    @Test
    void streamsSurviveWrapAroundInBothDirections() throws Exception {
        Pair p = open(RING, RING, false);
        SplittableRandom random = new SplittableRandom(42);
        long[] written = new long[2];
        long[] read = new long[2];
        ShmLink[] writers = {p.client(), p.server()};
        ShmLink[] readers = {p.server(), p.client()};
        long[] published = new long[2];
        long[] returned = new long[2];
        ByteBuf src = Unpooled.buffer(3 * RING);
        ByteBuf dst = Unpooled.directBuffer(3 * RING);
        toClose.add(dst::release);
        for (int step = 0; step < 40_000; step++) {
            int d = random.nextInt(2);
            ShmLink writer = writers[d];
            ShmLink reader = readers[d];
            switch (random.nextInt(4)) {
                case 0 -> {
                    int credit = writer.credit();
                    // Reads return credit a quarter ring at a time on their own, so what the writer sees
                    // lies between what was returned explicitly and what was read.
                    long seen = written[d] - (RING - credit);
                    assertTrue(seen >= returned[d] && seen <= read[d],
                            "credit is the ring less what is not returned: " + seen + " not in [" + returned[d] + ", "
                                    + read[d] + "]");
                    returned[d] = seen;
                    int want = random.nextInt(1, 3 * RING);
                    int offset = random.nextInt(RING / 4);
                    src.clear();
                    for (int i = 0; i < offset + want; i++) {
                        src.writeByte(i < offset ? 0x55 : pattern(written[d] + i - offset));
                    }
                    int n = writer.write(src, offset, want);
                    assertEquals(Math.min(want, credit), n, "write takes as much as credit allows");
                    written[d] += n;
                }
                case 1 -> {
                    writer.publish();
                    published[d] = written[d];
                }
                case 2 -> {
                    int readable = reader.readable();
                    // Large writes publish each quarter ring as they go; the rest waits for publish().
                    assertTrue(readable >= published[d] - read[d] && readable <= written[d] - read[d],
                            "readable is what was published and not read: " + readable);
                    published[d] = read[d] + readable;
                    int max = random.nextInt(1, 3 * RING);
                    int n = reader.read(dst, 0, max);
                    assertEquals(Math.min(max, readable), n);
                    for (int i = 0; i < n; i++) {
                        if (dst.getByte(i) != pattern(read[d] + i)) {
                            throw new AssertionError("direction " + d + ": byte " + (read[d] + i) + " differs");
                        }
                    }
                    read[d] += n;
                }
                default -> {
                    reader.returnCreditNow();
                    returned[d] = read[d];
                }
            }
            assertTrue(written[d] - read[d] <= RING);
        }
        assertTrue(read[0] > 100L * RING && read[1] > 100L * RING,
                "many wraps in each direction: " + read[0] + ", " + read[1]);
    }

    /** One long sequence through a small ring, verified by a running checksum on each side. */
    @Test
    void runningChecksumOverManyWraps() throws Exception {
        Pair p = open(RING, RING, false);
        SplittableRandom random = new SplittableRandom(7);
        java.util.zip.CRC32 sent = new java.util.zip.CRC32();
        java.util.zip.CRC32 received = new java.util.zip.CRC32();
        long total = 0;
        long target = 8L << 20;
        ByteBuf chunk = Unpooled.directBuffer(RING);
        ByteBuf in = Unpooled.buffer(RING);
        toClose.add(chunk::release);
        while (total < target) {
            int n = random.nextInt(1, RING / 3);
            chunk.clear();
            for (int i = 0; i < n; i++) {
                chunk.writeByte(random.nextInt(256));
            }
            int done = 0;
            while (done < n) {
                p.client().credit();
                int w = p.client().write(chunk, done, n - done);
                p.client().publish();
                done += w;
                int r = p.server().readable();
                if (r > 0 && (w == 0 || random.nextInt(3) == 0)) {
                    int m = p.server().read(in, 0, random.nextInt(1, RING + 1));
                    received.update(in.array(), in.arrayOffset(), m);
                    p.server().returnCreditNow();
                }
            }
            for (int i = 0; i < n; i++) {
                sent.update(chunk.getByte(i));
            }
            total += n;
        }
        int r;
        while ((r = p.server().readable()) > 0) {
            int m = p.server().read(in, 0, r);
            received.update(in.array(), in.arrayOffset(), m);
            p.server().returnCreditNow();
        }
        assertEquals(sent.getValue(), received.getValue());
        assertEquals(RING, p.client().credit());
    }

    @Test
    void theWriterCannotOutrunTheReader() throws Exception {
        Pair p = open(RING, RING, false);
        ByteBuf big = Unpooled.buffer(2 * RING).writeZero(2 * RING);
        assertEquals(RING, p.client().credit());
        assertEquals(RING, p.client().write(big, 0, 2 * RING), "only as much as the ring holds");
        assertEquals(0, p.client().credit());
        assertEquals(0, p.client().write(big, 0, 1));
        p.client().publish();
        assertEquals(0, p.client().write(big, 0, 100), "publishing returns no credit");

        ByteBuf dst = Unpooled.buffer(RING);
        assertEquals(RING, p.server().readable());
        assertEquals(1000, p.server().read(dst, 0, 1000));
        assertEquals(0, p.client().credit(), "reading alone returns no credit");
        p.server().returnCreditNow();
        assertEquals(1000, p.client().credit());
        assertEquals(1000, p.client().write(big, 0, 5000));
        assertEquals(0, p.client().credit());
        p.client().publish();
        assertEquals(RING, p.server().readable(), "3096 old + 1000 new");

        p.server().discard();
        assertEquals(0, p.server().readable());
        assertEquals(RING, p.client().credit(), "discard returns the credit");
    }

    @Test
    void unpublishedBytesAreInvisible() throws Exception {
        Pair p = open(RING, RING, false);
        assertEquals(5, p.client().write(bytes("hello"), 0, 5));
        assertEquals(0, p.server().readable());
        assertFalse(p.server().park(true, false), "nothing to read yet");
        p.server().unpark();
        assertEquals(6, p.client().write(bytes(" world"), 0, 6));
        assertEquals(0, p.server().readable());
        p.client().publish();
        assertEquals("hello world", readString(p.server(), 100));
    }

    @Test
    void outputDoneIsSeenByThePeerOnly() throws Exception {
        Pair p = open(RING, RING, true);
        assertFalse(p.server().peerOutputDone());
        assertFalse(p.client().peerOutputDone());
        p.client().markOutputDone();
        assertTrue(p.server().peerOutputDone());
        assertFalse(p.client().peerOutputDone(), "a side's own flag is not its peer's");
        assertEquals(1, p.shared().get(JAVA_INT, CLIENT_OUTPUT_DONE));
        p.server().markOutputDone();
        assertTrue(p.client().peerOutputDone());
    }

    @Test
    void outputDoneWakesAParkedReader() throws Exception {
        Pair p = open(RING, RING, false);
        assertFalse(p.server().park(true, false));
        assertFalse(rung(p.server()));
        p.client().markOutputDone();
        assertTrue(rung(p.server()), "the parked reader is rung: its peer is done");
        p.server().unpark();
        assertTrue(p.server().park(true, false), "a reader whose peer is done must not block");
    }

    @Test
    void aCloseRingsNoPeerThatClosedFirst() throws Exception {
        Pair p = open(RING, RING, false);
        // The server parked, waiting for bytes and for credit, then began its close: its closed flag is set,
        // its doorbell not shut yet. The client's close marks its end and its own close: neither rings it.
        assertFalse(p.server().park(true, false));
        byte[] fill = new byte[RING];
        assertEquals(RING, p.server().write(Unpooled.wrappedBuffer(fill), 0, RING));
        p.server().publish();
        assertFalse(p.server().park(true, true), "no credit: the server may block");
        p.server().markClosed();
        assertTrue(p.client().peerClosed());
        p.client().markOutputDone();
        p.client().markClosed();
        assertFalse(rung(p.server()), "a peer that closed first reads nothing more: no ring");
        assertTrue(p.server().peerOutputDone(), "the flags are set all the same");

        // The same without the server's close: it is rung.
        Pair q = open(RING, RING, false);
        assertFalse(q.server().park(true, false));
        q.client().markOutputDone();
        assertTrue(rung(q.server()), "a parked peer that is still open is rung");
    }

    @Test
    void markOutputDoneAfterCloseDoesNothing() throws Exception {
        Pair p = open(RING, RING, false);
        p.client().close();
        p.client().markOutputDone(); // must not touch the unmapped memory
        assertFalse(p.server().peerOutputDone());
    }

    @Test
    void aParkedReaderIsRungOncePerSleep() throws Exception {
        Pair p = open(RING, RING, false);
        ShmLink reader = p.server();
        ShmLink writer = p.client();

        writer.write(bytes("a"), 0, 1);
        writer.publish();
        assertFalse(rung(reader), "nobody parked: no doorbell");
        reader.discard();

        assertFalse(reader.park(true, false));
        assertFalse(rung(reader));
        writer.write(bytes("b"), 0, 1);
        assertFalse(rung(reader), "writing is not publishing");
        writer.publish();
        assertTrue(rung(reader), "a publish rings the parked reader");
        assertFalse(rung(reader), "once");

        writer.write(bytes("c"), 0, 1);
        writer.publish();
        assertFalse(rung(reader), "one doorbell per sleep: the flag was cleared by the first ring");

        reader.unpark();
        assertTrue(reader.park(true, false), "data is already there: do not block");
        assertFalse(rung(reader));
        reader.unpark();
        assertEquals("bc", readString(reader, 10));
        reader.returnCreditNow();

        assertFalse(reader.park(true, false));
        reader.unpark(); // awake again before the writer publishes: no doorbell needed
        writer.write(bytes("d"), 0, 1);
        writer.publish();
        assertFalse(rung(reader), "an unparked reader is not rung");
    }

    @Test
    void theDoorbellRingsOncePerSleep() throws Exception {
        Pair p = open(RING, RING, false);
        for (int sleep = 0; sleep < 3; sleep++) {
            assertFalse(p.server().park(true, false));
            for (int i = 0; i < 5; i++) {
                p.client().write(bytes("z"), 0, 1);
                p.client().publish();
                assertEquals(i == 0, rung(p.server()), "five publishes, one ring: publish " + i);
            }
            p.server().unpark();
            p.server().discard();
        }
        assertFalse(rung(p.server()));
    }

    @Test
    void aSenderWaitingForCreditIsRungWhenCreditReturns() throws Exception {
        Pair p = open(RING, RING, false);
        ShmLink writer = p.client();
        ShmLink reader = p.server();
        ByteBuf big = Unpooled.buffer(RING).writeZero(RING);
        assertEquals(RING, writer.write(big, 0, RING));
        writer.publish();
        assertFalse(writer.park(false, true), "no credit: the writer may block");
        assertFalse(rung(writer));

        assertEquals(RING, reader.readable());
        assertEquals(100, reader.read(Unpooled.buffer(100), 0, 100));
        assertFalse(rung(writer), "reading is not returning credit");
        reader.returnCreditNow();
        assertTrue(rung(writer), "returned credit rings the waiting writer");
        reader.discard();
        assertFalse(rung(writer), "one ring per sleep");

        writer.unpark();
        assertTrue(writer.park(false, true), "credit is already there: do not block");
        writer.unpark();
        assertEquals(RING, writer.credit());
    }

    @Test
    void aReaderParkedForCreditOnlyIsNotRungByData() throws Exception {
        Pair p = open(RING, RING, false);
        assertTrue(p.server().park(false, true), "full credit: nothing to wait for");
        p.server().unpark();
        assertFalse(p.server().park(false, false), "asking for nothing never says there is work");
        p.client().write(bytes("x"), 0, 1);
        p.client().publish();
        assertFalse(rung(p.server()));
    }

    @Test
    void aCorruptedProducerCursorIsAProtocolError() throws Exception {
        Pair p = open(RING, RING, true);
        p.client().write(bytes("abc"), 0, 3);
        p.client().publish();
        assertEquals(3, p.server().readable());

        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, 1L << 40);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> p.server().readable());
        assertTrue(e.getMessage().contains(String.valueOf(1L << 40)), e.getMessage());
        assertThrows(RingProtocolException.class, () -> p.server().park(true, false));

        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, RING + 1L);
        assertThrows(RingProtocolException.class, () -> p.server().readable(), "one byte past the ring");

        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, 2);
        assertThrows(RingProtocolException.class, () -> p.server().readable(), "moved backwards");

        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, -1L);
        assertThrows(RingProtocolException.class, () -> p.server().readable());

        // The other direction is untouched.
        p.server().write(bytes("ok"), 0, 2);
        p.server().publish();
        assertEquals("ok", readString(p.client(), 10));
    }

    @Test
    void aCorruptedProducerCursorTowardsTheClient() throws Exception {
        Pair p = open(RING, RING, true);
        p.shared().set(JAVA_LONG, TO_CLIENT + PRODUCER, Long.MAX_VALUE);
        assertThrows(RingProtocolException.class, () -> p.client().readable());
        assertEquals(0, p.server().readable(), "the client-to-server direction is untouched");
    }

    @Test
    void aCorruptedConsumerCursorIsAProtocolError() throws Exception {
        Pair p = open(RING, RING, true);
        p.client().write(bytes("abcdef"), 0, 6);
        p.client().publish();
        p.shared().set(JAVA_LONG, TO_SERVER + CONSUMER, 7); // credit for more than was sent
        assertThrows(RingProtocolException.class, () -> p.client().credit());
        assertThrows(RingProtocolException.class, () -> p.client().park(false, true));
        p.shared().set(JAVA_LONG, TO_SERVER + CONSUMER, 6);
        assertEquals(RING, p.client().credit());
        p.shared().set(JAVA_LONG, TO_SERVER + CONSUMER, 5); // backwards
        assertThrows(RingProtocolException.class, () -> p.client().credit());
    }

    @Test
    void aGarbageParkedFlagIsHarmless() throws Exception {
        Pair p = open(RING, RING, true);
        p.shared().set(JAVA_INT, TO_SERVER + RECEIVER_PARKED, 0x7fff_ffff);
        p.client().write(bytes("x"), 0, 1);
        p.client().publish(); // a flag other than 1 is not cleared, so it does not ring: fine, but it must not throw
        assertEquals(1, p.server().readable());
    }

    // ---- attach: what it refuses -----------------------------------------------------------------

    /** A fresh, owned-by-nobody descriptor for a doorbell's end. */
    private static int bellFd() throws NativeIoException {
        Doorbell.Pair pair = Doorbell.pair();
        try (Doorbell client = pair.first(); Doorbell server = pair.second()) {
            return FileDescriptors.duplicate(server.fd());
        }
    }

    private static int memFdFd(long size, boolean seal) throws NativeIoException {
        try (MemFd memFd = MemFd.create("vsocket-shm-test", size)) {
            if (seal) {
                memFd.sealSize();
            }
            return FileDescriptors.duplicate(memFd.fd());
        }
    }

    @Test
    void attachRejectsAMemFdOfTheWrongSize() throws Exception {
        long before = openDescriptors();
        for (long size : new long[] {ShmLink.regionSize(RING, RING) - 1, ShmLink.regionSize(RING, RING) + 4096, 4096}) {
            int bell = bellFd();
            int memFd = memFdFd(size, true);
            RingProtocolException e = assertThrows(RingProtocolException.class,
                    () -> ShmLink.attach(memFd, bell, RING, RING));
            assertTrue(e.getMessage().contains(String.valueOf(size))
                    && e.getMessage().contains(String.valueOf(ShmLink.regionSize(RING, RING))), e.getMessage());
        }
        assertEquals(before, openDescriptors(), "attach closed both descriptors it was given");
    }

    @Test
    void attachRejectsAnUnsealedMemFd() throws Exception {
        long before = openDescriptors();
        int bell = bellFd();
        int memFd = memFdFd(ShmLink.regionSize(RING, RING), false);
        RingProtocolException e = assertThrows(RingProtocolException.class,
                () -> ShmLink.attach(memFd, bell, RING, RING));
        assertTrue(e.getMessage().contains("sealed"), e.getMessage());
        assertEquals(before, openDescriptors(), "attach closed both descriptors it was given");
    }

    @Test
    void attachRejectsRingsThatAreNotPowersOfTwo() throws Exception {
        long before = openDescriptors();
        int bell = bellFd();
        int memFd = memFdFd(ShmLink.regionSize(3000, RING), true);
        assertThrows(IllegalArgumentException.class, () -> ShmLink.attach(memFd, bell, 3000, RING));
        assertEquals(before, openDescriptors());
    }

    /**
     * attach "takes ownership of both descriptors in every case". A peer that sends a socket
     * (anything lseek refuses) where the memfd belongs makes MemFd.adopt throw before the doorbell
     * is adopted, and the doorbell's descriptor must still be closed.
     */
    @Test
    void attachClosesTheDoorbellWhenTheMemFdIsNotAFile() throws Exception {
        long before = openDescriptors();
        int bell = bellFd();
        int notAFile;
        try (NativeSocket socket = NativeSocket.newStreamSocket()) {
            notAFile = FileDescriptors.duplicate(socket.fd());
        }
        assertThrows(IOException.class, () -> ShmLink.attach(notAFile, bell, RING, RING));
        assertEquals(before, openDescriptors(), "attach must close both descriptors it was given");
    }

    /**
     * A doorbell must be a Unix stream socket: an eventfd (what a hello-4 peer sends) is a file the peer
     * shares whole, flags and counter, and can make a ring block on; a TCP socket would carry rings off
     * the host.
     */
    @Test
    void attachRejectsADoorbellThatIsNoUnixStreamSocket() throws Exception {
        long before = openDescriptors();
        int[] notABell = new int[2];
        try (NativeSocket socket = NativeSocket.newStreamSocket(); EventFd eventFd = EventFd.create()) {
            notABell[0] = FileDescriptors.duplicate(socket.fd());
            notABell[1] = FileDescriptors.duplicate(eventFd.fd());
        }
        for (int fd : notABell) {
            int memFd = memFdFd(ShmLink.regionSize(RING, RING), true);
            IOException e = assertThrows(IOException.class, () -> ShmLink.attach(memFd, fd, RING, RING));
            assertTrue(e.getMessage().contains("no Unix stream socket"), e.getMessage());
        }
        assertEquals(before, openDescriptors(), "attach closed both descriptors it was given");
    }

    // ---- descriptors ---------------------------------------------------------------------------

    /** A peer's descriptors this process refused may still be closing on their own thread: counted after. */
    private static void settlePeerDescriptors() {
        try {
            io.vsocket.unix.PeerDescriptors.settle(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long openDescriptors() {
        settlePeerDescriptors();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void aFullCycleLeaksNoDescriptor() throws Exception {
        try (Pair warmUp = connect(RING, RING, false)) {
            warmUp.client().write(bytes("warm"), 0, 4);
            warmUp.client().publish();
            Epoll.create(1).close(); // (the watch's own descriptors, made once before the count)
        }
        long before = openDescriptors();
        for (int i = 0; i < 50; i++) {
            Pair p = connect(RING, 2 * RING, false);
            assertTrue(openDescriptors() > before, "the link holds descriptors while open");
            p.client().write(bytes("ping"), 0, 4);
            p.client().publish();
            assertEquals("ping", readString(p.server(), 4));
            p.server().returnCreditNow();
            p.server().markOutputDone();
            p.close();
            p.close(); // idempotent
        }
        assertEquals(before, openDescriptors());
    }

    @Test
    void closeIsIdempotentAndLeavesThePeerUsable() throws Exception {
        Pair p = open(RING, RING, false);
        p.client().write(bytes("last words"), 0, 10);
        p.client().publish();
        p.client().markOutputDone();
        p.client().close();
        p.client().close();
        assertTrue(SharedArenaCloser.settle(5000), "unmapped (off the closing thread)");
        assertThrows(IllegalStateException.class, () -> p.client().readable(), "no access to unmapped memory");
        assertTrue(p.server().peerOutputDone());
        assertEquals("last words", readString(p.server(), 100), "the server's own mapping outlives the client's");
        p.server().returnCreditNow(); // rings nobody, and must not fail on the closed peer
    }

    @Test
    void creditGoesBackAQuarterRingAtATimeAndAllOfItBeforeTheReaderSleeps() throws Exception {
        Pair p = open(RING, RING, false);
        ByteBuf src = Unpooled.buffer(RING).writeZero(RING);
        ByteBuf dst = Unpooled.buffer(RING);
        assertEquals(RING, p.client().write(src, 0, RING));
        p.client().publish();
        assertEquals(RING, p.server().readable());
        assertEquals(10, p.server().read(dst, 0, 10));
        p.server().returnCredit();
        assertEquals(0, p.client().credit(), "a sliver of credit is held back (no silly window)");
        assertEquals(RING / 4, p.server().read(dst, 0, RING / 4));
        assertEquals(10 + RING / 4, p.client().credit(), "a quarter ring read sends the credit back");
        assertEquals(5, p.server().read(dst, 0, 5));
        assertTrue(p.server().park(true, false), "unread bytes remain, so the reader must not sleep");
        p.server().unpark();
        assertEquals(15 + RING / 4, p.client().credit(), "parking returns every byte read");
    }

    /** A source of pattern bytes that fills at most {@code cap} per stretch (short fills end a write). */
    private static final class PatternSource implements RingSource {
        long next;
        int cap = Integer.MAX_VALUE;
        int largestStretch;

        @Override
        public int fill(ByteBuffer stretch) {
            largestStretch = Math.max(largestStretch, stretch.remaining());
            int n = Math.min(stretch.remaining(), cap);
            for (int i = 0; i < n; i++) {
                stretch.put(stretch.position() + i, pattern(next + i));
            }
            next += n;
            return n;
        }
    }

    /**
     * Writes from a {@link RingSource} (how file regions reach the ring) mixed with buffer writes,
     * across many wraps: the source is offered contiguous stretches of at most a quarter ring, as
     * far as credit goes, a short fill ends the write, and the reader sees one intact stream.
     */
    @Test
    void sourceWritesFillTheRingStretchByStretch() throws Exception {
        Pair p = open(RING, RING, false);
        SplittableRandom random = new SplittableRandom(11);
        PatternSource source = new PatternSource();
        ByteBuf src = Unpooled.directBuffer(RING);
        ByteBuf dst = Unpooled.directBuffer(RING);
        toClose.add(src::release);
        toClose.add(dst::release);
        long written = 0;
        long read = 0;
        for (int step = 0; step < 20_000; step++) {
            int credit = p.client().credit();
            int want = random.nextInt(1, 2 * RING);
            int n;
            if (random.nextBoolean()) {
                source.next = written;
                source.cap = random.nextInt(4) == 0 ? random.nextInt(1, RING) : Integer.MAX_VALUE;
                n = p.client().write(source, want);
                int expected = Math.min(want, credit);
                if (source.cap == Integer.MAX_VALUE) {
                    assertEquals(expected, n, "a source write takes as much as credit allows");
                } else {
                    assertTrue(n <= expected && n >= Math.min(expected, source.cap), "a short fill ends the write: " + n);
                }
            } else {
                int len = Math.min(want, RING);
                src.clear();
                for (int i = 0; i < len; i++) {
                    src.writeByte(pattern(written + i));
                }
                n = p.client().write(src, 0, len);
                assertEquals(Math.min(len, credit), n);
            }
            written += n;
            p.client().publish();
            int readable = p.server().readable();
            assertEquals(written - read, readable);
            int m = p.server().read(dst, 0, random.nextInt(1, RING + 1));
            for (int i = 0; i < m; i++) {
                if (dst.getByte(i) != pattern(read + i)) {
                    throw new AssertionError("byte " + (read + i) + " differs");
                }
            }
            read += m;
            if (random.nextInt(4) == 0) {
                p.server().returnCreditNow();
            }
        }
        assertTrue(read > 100L * RING, "many wraps: " + read);
        assertEquals(RING / 4, source.largestStretch, "a stretch is at most a quarter ring");
    }

    @Test
    void aSourceWriteStopsAtALoanAndStepsOverItsHole() throws Exception {
        Pair p = openLending(LEND_RING, false);
        PatternSource source = new PatternSource();
        assertEquals(8192, p.client().write(source, 8192));
        p.client().publish();
        ByteBuf loan = p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT);
        assertTrue(loan != null && loan.readableBytes() == 8192);
        p.server().returnCreditNow();
        assertEquals(LEND_RING - 8192, p.client().write(source, LEND_RING),
                "the source write stops where the next lap would reach the loan");
        p.client().publish();
        assertPattern(loan, 0, "the loan after a lap");
        assertTrue(loan.release());
        ByteBuf dst = Unpooled.directBuffer(LEND_RING);
        toClose.add(dst::release);
        assertEquals(LEND_RING - 8192, p.server().readable());
        assertReadsPattern(p, dst, LEND_RING - 8192, 8192, "after the loan");
        p.server().returnCreditNow();
        assertEquals(8192, p.client().write(source, 8192), "the writer steps over the hole");
        p.client().publish();
        assertEquals(8192, p.server().readable(), "the hole is stepped over, not read");
        assertReadsPattern(p, dst, 8192, LEND_RING, "after the hole");
    }

    // ---- Loans: bytes handed out as they lie in the ring ----

    private static final int LEND_RING = 64 * 1024;

    private static ByteBuf patterned(long from, int n) {
        ByteBuf b = Unpooled.directBuffer(n);
        for (int i = 0; i < n; i++) {
            b.writeByte(pattern(from + i));
        }
        return b;
    }

    /** The server reads exactly {@code n} bytes into {@code dst} (from its start), the pattern's from {@code from}. */
    private static void assertReadsPattern(Pair p, ByteBuf dst, int n, long from, String what) throws IOException {
        dst.clear();
        assertEquals(n, p.server().read(dst, 0, dst.capacity()), what);
        dst.writerIndex(n);
        assertPattern(dst, from, what);
    }

    private static void assertPattern(ByteBuf buf, long from, String what) {
        for (int i = 0; i < buf.readableBytes(); i++) {
            if (buf.getByte(buf.readerIndex() + i) != pattern(from + i)) {
                throw new AssertionError(what + ": byte " + (from + i) + " is wrong");
            }
        }
    }

    @Test
    void aLoanIsTheRingsBytesAndReleasingItGivesThemBack() throws Exception {
        Pair p = openLending(LEND_RING, false);
        ByteBuf src = patterned(0, 8192);
        toClose.add(src::release);
        assertEquals(8192, p.client().write(src, 0, 8192));
        p.client().publish();
        assertEquals(8192, p.server().readable());
        ByteBuf loan = p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT);
        assertTrue(loan != null && loan.isDirect());
        assertEquals(8192, loan.readableBytes());
        assertPattern(loan, 0, "loan");
        assertEquals(0, p.server().readable(), "lent bytes are read");
        assertEquals(1, p.server().loansOutstanding());
        assertEquals(8192, p.server().bytesLent());
        p.server().returnCreditNow();
        assertEquals(LEND_RING, p.client().credit(), "credit for the lent bytes went back");
        ByteBuf more = patterned(8192, LEND_RING);
        toClose.add(more::release);
        assertEquals(LEND_RING - 8192, p.client().write(more, 0, LEND_RING),
                "the writer stops where the next lap would reach the loan: a hole");
        assertPattern(loan, 0, "the loan after a lap");
        p.client().publish();
        assertTrue(loan.release());
        assertEquals(0, p.server().loansOutstanding());
        ByteBuf dst = Unpooled.directBuffer(LEND_RING);
        toClose.add(dst::release);
        assertEquals(LEND_RING - 8192, p.server().readable());
        assertReadsPattern(p, dst, LEND_RING - 8192, 8192, "after the loan");
        p.server().returnCreditNow();
        assertEquals(LEND_RING, p.client().credit(), "the writer stepped over the hole, the reader too");
        assertEquals(8192, p.client().write(more, LEND_RING - 8192, 8192));
        p.client().publish();
        assertEquals(8192, p.server().readable(), "the hole is stepped over, not read");
        assertReadsPattern(p, dst, 8192, LEND_RING, "after the hole");
    }

    @Test
    void aShortStretchIsNotLent() throws Exception {
        Pair p = openLending(LEND_RING, false);
        p.client().write(bytes("short"), 0, 5);
        p.client().publish();
        assertEquals(5, p.server().readable());
        assertEquals(null, p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT));
        assertEquals("short", readString(p.server(), 100));
    }

    /**
     * The model check: random writes through a small ring while the reader lends and copies at
     * random, holds loans for random spans and releases them in random order. Every byte arrives
     * once, in order, and every held loan keeps its bytes however many laps the ring makes.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"16384, 11, 400, 12288, false", "262144, 12, 60, 196608, false",
            "262144, 13, 30, 12288, true"})
    void heldLoansNeverStallTheStreamNorLoseTheirBytes(int ring, long seed, int laps, int maxWrite, boolean limits)
            throws Exception {
        Pair p = openLending(ring, false);
        SplittableRandom random = new SplittableRandom(seed);
        int mostLoans = 0;
        int mostHoles = 0;
        record Held(ByteBuf buf, long from) {
        }
        List<Held> held = new ArrayList<>();
        long sent = 0;
        long received = 0;
        ByteBuf dst = Unpooled.directBuffer(ring);
        toClose.add(dst::release);
        int stalls = 0;
        while (received < (long) laps * ring) {
            int credit = p.client().credit();
            if (credit > 0) {
                int n = random.nextInt(1, maxWrite);
                ByteBuf src = patterned(sent, n);
                int w = p.client().write(src, 0, n);
                src.release();
                sent += w;
                p.client().publish();
            }
            int r = p.server().readable();
            boolean progressed = false;
            if (r > 0) {
                ByteBuf loan = random.nextBoolean() ? p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT) : null;
                if (loan != null) {
                    assertPattern(loan, received, "fresh loan");
                    held.add(new Held(loan, received));
                    received += loan.readableBytes();
                } else {
                    int m = p.server().read(dst, 0, random.nextInt(1, ring));
                    dst.setIndex(0, m);
                    assertPattern(dst, received, "copied");
                    received += m;
                }
                progressed = true;
            }
            mostLoans = Math.max(mostLoans, p.server().loansOutstanding());
            mostHoles = Math.max(mostHoles, p.server().pendingHoles());
            if (!held.isEmpty() && random.nextInt(4) == 0) {
                Held h = held.remove(random.nextInt(held.size()));
                assertPattern(h.buf(), h.from(), "held loan");
                h.buf().release();
            }
            if (random.nextInt(3) == 0) {
                p.server().returnCreditNow();
            }
            stalls = progressed || credit > 0 ? 0 : stalls + 1;
            assertTrue(stalls < 1000, "stalled with " + held.size() + " loans held");
        }
        for (Held h : held) {
            assertPattern(h.buf(), h.from(), "held loan at the end");
            h.buf().release();
        }
        assertEquals(0, p.server().loansOutstanding());
        assertTrue(p.server().bytesLent() > (long) laps * ring / 20, "lent " + p.server().bytesLent());
        assertEquals(sent, received + p.server().readable());
        if (limits) {
            // Small loans in a large ring: the loan limit and several holes at once are exercised.
            assertEquals(LoanLedger.MAX_LOANS, mostLoans, "the loan limit was reached");
            assertTrue(mostHoles >= 8, "many holes pending at once: " + mostHoles);
        }
    }

    /** The client-to-server ring's holes, per the layout comment: announced count, lending flag, entries. */
    private static final long TO_SERVER_HOLES = 1024;

    /** A pair whose server side lends, with this thread as its event loop. */
    private Pair openLending(int ring, boolean spy) throws Exception {
        Pair p = open(ring, ring, spy);
        p.server().lendOn(io.netty.util.concurrent.ImmediateEventExecutor.INSTANCE);
        return p;
    }

    /** Collects garbage until every loan of {@code p}'s server is back, or gives up after 4 s. */
    private static void awaitLoansCollected(Pair p) throws InterruptedException {
        for (int i = 0; i < 200 && p.server().loansOutstanding() > 0; i++) {
            System.gc();
            Thread.sleep(20);
        }
    }

    private ByteBuf lendFrom(Pair p, long from, int n) throws Exception {
        ByteBuf src = patterned(from, n);
        assertEquals(n, p.client().write(src, 0, n));
        src.release();
        p.client().publish();
        assertEquals(n, p.server().readable());
        ByteBuf loan = p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT);
        assertTrue(loan != null, "lent");
        return loan;
    }

    @Test
    void holesAndTheLendingFlagAreWhereTheLayoutSays() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf loan = lendFrom(p, 0, 8192);
        MemorySegment shared = p.shared();
        assertEquals(1, shared.get(JAVA_INT, TO_SERVER_HOLES + 8), "lending");
        assertEquals(0, shared.get(JAVA_LONG, TO_SERVER_HOLES), "no hole before credit passes the loan");
        p.server().returnCreditNow();
        assertEquals(1, shared.get(JAVA_LONG, TO_SERVER_HOLES), "one hole announced");
        assertEquals(LEND_RING, shared.get(JAVA_LONG, TO_SERVER_HOLES + 64), "it starts one lap after the loan");
        assertEquals(LEND_RING + 8192, shared.get(JAVA_LONG, TO_SERVER_HOLES + 72));
        loan.release();
        assertEquals(0, shared.get(JAVA_INT, TO_SERVER_HOLES + 8), "nothing on loan");
    }

    @Test
    void aLoanReleasedBeforeCreditGoesBackCostsNoHole() throws Exception {
        Pair p = openLending(LEND_RING, true);
        lendFrom(p, 0, 8192).release();
        p.server().returnCreditNow();
        assertEquals(0, p.shared().get(JAVA_LONG, TO_SERVER_HOLES), "no hole");
        ByteBuf all = patterned(8192, LEND_RING);
        toClose.add(all::release);
        assertEquals(LEND_RING, p.client().credit());
        assertEquals(LEND_RING, p.client().write(all, 0, LEND_RING), "the whole ring is the writer's again");
    }

    @Test
    void aRingWithBytesOnLoanIsNotPunchedOut() throws Exception {
        Pair p = openLending(LEND_RING, false);
        ByteBuf loan = lendFrom(p, 0, 8192);
        p.server().returnCreditNow();
        assertEquals(LEND_RING, p.client().credit(), "every byte read and credited");
        assertFalse(p.client().releaseIdleRing(), "but the reader still holds some of them as they lie");
        assertPattern(loan, 0, "the loan");
        loan.release();
        assertTrue(p.client().releaseIdleRing(), "released, the ring's pages may go");
    }

    /** An event loop of its own for {@code p}'s server side, where it lends 8 KiB written by the client. */
    private ByteBuf lendOnALoop(Pair p, io.netty.util.concurrent.EventExecutor loop) throws Exception {
        toClose.add(() -> loop.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync());
        ByteBuf src = patterned(0, 8192);
        toClose.add(src::release);
        return loop.submit(() -> {
            p.server().lendOn(loop);
            p.client().write(src, 0, 8192);
            p.client().publish();
            p.server().readable();
            return p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT);
        }).get();
    }

    @Test
    void aLoanReleasedOnAnotherThreadComesBackThroughTheLoop() throws Exception {
        Pair p = open(LEND_RING, LEND_RING, true);
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        ByteBuf loan = lendOnALoop(p, loop);
        assertEquals(1, p.server().loansOutstanding());
        assertPattern(loan, 0, "loan read on another thread");
        loan.release();
        assertEquals(0, p.server().loansOutstanding(), "counted at once");
        // The ledger itself is the loop's: it clears the flag there.
        for (int i = 0; i < 100 && p.shared().get(JAVA_INT, TO_SERVER_HOLES + 8) != 0; i++) {
            Thread.sleep(10);
        }
        assertEquals(0, p.shared().get(JAVA_INT, TO_SERVER_HOLES + 8), "retired on the loop");
        assertEquals(LEND_RING, (int) loop.submit(() -> {
            p.server().returnCreditNow();
            return p.client().credit();
        }).get());
    }

    private static long memfdMappings() throws IOException {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.contains("memfd:vsocket-shm")).count();
        }
    }

    @Test
    void aLoanOutlivesItsLinkAndTheLastReleaseUnmaps() throws Exception {
        assertTrue(SharedArenaCloser.settle(5000), "earlier tests' closed links unmapped");
        long before = memfdMappings();
        Pair p = connect(LEND_RING, LEND_RING, false);
        p.server().lendOn(io.netty.util.concurrent.ImmediateEventExecutor.INSTANCE);
        ByteBuf loan = lendFrom(p, 0, 8192);
        assertEquals(before + 2, memfdMappings(), "each side maps the rings");
        p.close();
        assertTrue(SharedArenaCloser.settle(5000), "the closed client's mapping unmapped (off the closing thread)");
        assertEquals(before + 1, memfdMappings(), "the lender's mapping stays while a loan is out");
        assertPattern(loan, 0, "a loan after its link closed");
        assertEquals(null, p.server().lend(io.netty.buffer.ByteBufAllocator.DEFAULT), "a closed link lends nothing");
        loan.release();
        assertTrue(SharedArenaCloser.settle(5000));
        assertEquals(before, memfdMappings(), "the last release unmaps");
        assertEquals(0, p.server().loansOutstanding());
    }

    @Test
    void anImpossibleHoleIsAProtocolError() throws Exception {
        Pair p = open(RING, RING, true);
        MemorySegment shared = p.shared();
        p.client().write(bytes("abcdef"), 0, 6);
        p.client().publish();
        shared.set(JAVA_LONG, TO_SERVER_HOLES + 64, 2); // behind the bytes already sent
        shared.set(JAVA_LONG, TO_SERVER_HOLES + 72, 100);
        shared.set(JAVA_LONG, TO_SERVER_HOLES, 1);
        assertThrows(RingProtocolException.class, () -> p.client().credit());
        shared.set(JAVA_LONG, TO_SERVER_HOLES + 64, 1000);
        shared.set(JAVA_LONG, TO_SERVER_HOLES + 72, 1000 + RING); // longer than half the ring
        assertThrows(RingProtocolException.class, () -> p.client().credit());
        shared.set(JAVA_LONG, TO_SERVER_HOLES + 72, 999); // ends before it starts
        assertThrows(RingProtocolException.class, () -> p.client().write(bytes("x"), 0, 1));
        shared.set(JAVA_LONG, TO_SERVER_HOLES, 40); // more than the queue holds
        assertThrows(RingProtocolException.class, () -> p.client().credit());
    }

    @Test
    void aWriterThatWritesIntoAHoleIsAProtocolError() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf loan = lendFrom(p, 0, 8192);
        toClose.add(loan::release);
        p.server().returnCreditNow(); // the hole [LEND_RING, LEND_RING + 8192) is announced
        ByteBuf dst = Unpooled.directBuffer(LEND_RING);
        toClose.add(dst::release);
        // A writer that ignores the hole: its cursor stops inside it.
        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, LEND_RING + 100);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> {
            while (p.server().readable() > 0) {
                p.server().read(dst, 0, LEND_RING);
            }
        });
        assertTrue(e.getMessage().contains("hole"), e.getMessage());
    }

    @Test
    void aLoanThatGrowsMovesItsBytesOutAndGivesTheStretchBackAtOnce() throws Exception {
        Pair p = openLending(LEND_RING, false);
        ByteBuf loan = lendFrom(p, 0, 8192);
        loan.writeBytes(bytes("appended, as a cumulating decoder does"));
        assertEquals(0, p.server().loansOutstanding(), "the bytes moved to memory of their own");
        assertPattern(loan.slice(0, 8192), 0, "the grown buffer");
        assertEquals("appended, as a cumulating decoder does",
                loan.toString(8192, loan.readableBytes() - 8192, StandardCharsets.UTF_8));
        p.server().returnCreditNow();
        ByteBuf all = patterned(8192, LEND_RING);
        toClose.add(all::release);
        assertEquals(LEND_RING, p.client().credit());
        assertEquals(LEND_RING, p.client().write(all, 0, LEND_RING), "no hole: the stretch was back before credit");
        assertTrue(loan.release());
        assertEquals(0, p.server().loansOutstanding(), "and not given back twice");
    }

    @Test
    void aLoanDroppedWithoutAReleaseComesBackWhenCollected() throws Exception {
        Pair p = open(LEND_RING, LEND_RING, false);
        assertTrue(lendOnALoop(p, new io.netty.util.concurrent.DefaultEventExecutor()) != null); // and dropped
        assertEquals(1, p.server().loansOutstanding());
        awaitLoansCollected(p);
        assertEquals(0, p.server().loansOutstanding(), "the collector found the dropped buffer");
    }

    @Test
    void aParkingReaderStepsOverHolesEvenWhenNotReading() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf loan = lendFrom(p, 0, 8192);
        toClose.add(loan::release);
        p.server().returnCreditNow(); // a hole at [LEND_RING, LEND_RING + 8192)
        ByteBuf more = patterned(8192, LEND_RING - 8192);
        toClose.add(more::release);
        assertEquals(LEND_RING, p.client().credit());
        assertEquals(LEND_RING - 8192, p.client().write(more, 0, LEND_RING - 8192), "up to the hole");
        p.client().publish();
        ByteBuf dst = Unpooled.directBuffer(LEND_RING);
        toClose.add(dst::release);
        assertEquals(LEND_RING - 8192, p.server().readable());
        assertEquals(LEND_RING - 8192, p.server().read(dst, 0, LEND_RING));
        // Later (the writer's idle check, say) the writer steps over the hole: credit covers it.
        p.client().credit();
        assertEquals(LEND_RING + 8192, p.shared().get(JAVA_LONG, TO_SERVER + PRODUCER), "stepped over, and published");
        assertFalse(p.server().park(false, false, false), "nothing to do");
        assertEquals(LEND_RING, p.client().credit(), "the hole's credit came back with the rest");
    }

    @Test
    void aWriterCursorInsideALaterHoleIsAProtocolError() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf first = lendFrom(p, 0, 8192);
        toClose.add(first::release);
        ByteBuf second = lendFrom(p, 8192, 8192);
        toClose.add(second::release);
        p.server().returnCreditNow(); // holes at [R, R + 8192) and [R + 8192, R + 16384), R = LEND_RING
        assertEquals(2, p.server().pendingHoles());
        // Past the first hole, stopped inside the second, with data before both.
        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, LEND_RING + 8192 + 100);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> p.server().readable());
        assertTrue(e.getMessage().contains("hole"), e.getMessage());
    }

    @Test
    void aViewOfADroppedLoanKeepsItsStretchLent() throws Exception {
        Pair p = open(LEND_RING, LEND_RING, false);
        java.nio.ByteBuffer view = lendOnALoop(p, new io.netty.util.concurrent.DefaultEventExecutor()).nioBuffer();
        for (int i = 0; i < 10; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(1, p.server().loansOutstanding(), "the buffer is gone, but a view of its bytes is not");
        for (int i = 0; i < 8192; i++) {
            assertEquals(pattern(i), view.get(i), "the view's bytes");
        }
        java.lang.ref.Reference.reachabilityFence(view);
        view = null;
        awaitLoansCollected(p);
        assertEquals(0, p.server().loansOutstanding(), "no view left: the stretch came back");
    }

    // ---- Lap restarts: a writer that finds the ring empty mid-lap goes on at its start ----

    /** Where the server's receive ring (the client writes it) starts in the shared memory. */
    private static final long SERVER_RING = ShmLink.HEADER_SIZE;
    /** The client-to-server direction's restartedAt and takesRestarts, per the layout comment. */
    private static final long TO_SERVER_RESTARTED_AT = TO_SERVER + 8;
    private static final long TO_SERVER_TAKES_RESTARTS = TO_SERVER + CONSUMER + 8;

    /** The client writes {@code n} pattern bytes from {@code from} and publishes; the server reads them all and credits them. */
    private static void roundTrip(Pair p, long from, int n) throws IOException {
        ByteBuf src = patterned(from, n);
        try {
            p.client().credit();
            assertEquals(n, p.client().write(src, 0, n));
            p.client().publish();
            assertEquals(n, p.server().readable(), "message at " + from);
            ByteBuf dst = Unpooled.directBuffer(n);
            try {
                assertEquals(n, p.server().read(dst, 0, n));
                dst.writerIndex(n);
                assertPattern(dst, from, "message at " + from);
            } finally {
                dst.release();
            }
            p.server().returnCreditNow();
        } finally {
            src.release();
        }
    }

    /** Whether the server's ring holds the pattern's {@code n} bytes from {@code from} at {@code offset}. */
    private static boolean ringHolds(Pair p, long offset, long from, int n) {
        for (int i = 0; i < n; i++) {
            if (p.shared().get(JAVA_BYTE, SERVER_RING + offset + i) != pattern(from + i)) {
                return false;
            }
        }
        return true;
    }

    @Test
    void smallMessagesKeepToTheRingsStart() throws Exception {
        Pair p = open(RING, RING, true);
        assertEquals(1, p.shared().get(JAVA_INT, TO_SERVER_TAKES_RESTARTS), "the server takes restarts");
        long from = 0;
        for (int i = 0; i < 100; i++) {
            int n = 50 + i % 7;
            roundTrip(p, from, n);
            assertTrue(ringHolds(p, 0, from, n), "message " + i + " lies at the ring's start");
            from += n;
        }
        assertTrue(from > RING, "without restarts these would have gone round the ring: " + from);
        assertEquals(RING, p.client().credit(), "every byte credited");
    }

    @Test
    void aBusyConnectionOfSmallMessagesKeepsToItsRingsFirstStretch() throws Exception {
        int ring = 1 << 20;
        Pair p = open(ring, ring, true);
        ByteBuf dst = Unpooled.directBuffer(64);
        toClose.add(dst::release);
        long from = 0;
        for (int i = 0; i < 10_000; i++) {
            int n = 50 + i % 7;
            ByteBuf src = patterned(from, n);
            p.client().credit(); // as the channel asks before it writes; nothing parks, nothing returns credit else
            assertEquals(n, p.client().write(src, 0, n));
            src.release();
            p.client().publish();
            assertEquals(n, p.server().readable());
            assertReadsPattern(p, dst, n, from, "message " + i);
            from += n;
        }
        assertTrue(from > ring / 2, "without restarts these would have gone past half the ring: " + from);
        // A reader that has read everything past 64 KiB of its lap says so at once: the writer restarts there.
        for (long offset = (64 << 10) + 64; offset < ring; offset += 8) {
            if (p.shared().get(JAVA_LONG, SERVER_RING + offset) != 0) {
                throw new AssertionError("the writer went on past 64 KiB of its lap: a byte at " + offset);
            }
        }
    }

    @Test
    void aReaderThatDoesNotTakeRestartsGetsEveryLapWhole() throws Exception {
        Pair p = open(RING, RING, true);
        p.server().takeRestarts(false); // as a vsocket before restarts
        long from = 0;
        for (int i = 0; i < 100; i++) {
            int n = 50 + i % 7;
            roundTrip(p, from, n);
            int offset = (int) (from % RING);
            int first = Math.min(n, RING - offset);
            assertTrue(ringHolds(p, offset, from, first) && ringHolds(p, 0, from + first, n - first),
                    "message " + i + " lies where the last one ended");
            from += n;
        }
    }

    @Test
    void aWriteAfterARestartHasTheWholeRing() throws Exception {
        Pair p = open(RING, RING, true);
        roundTrip(p, 0, 100);
        roundTrip(p, 100, RING);
        assertTrue(ringHolds(p, 0, 100, RING), "a whole ring's message at the start of the next lap");
    }

    @Test
    void aSourceWriteRestartsTheLapAndAReaderFollowsItAsItParks() throws Exception {
        Pair p = open(RING, RING, true);
        PatternSource source = new PatternSource();
        assertEquals(100, p.client().write(source, 100));
        p.client().publish();
        ByteBuf dst = Unpooled.directBuffer(RING);
        toClose.add(dst::release);
        assertEquals(100, p.server().readable());
        assertReadsPattern(p, dst, 100, 0, "first");
        p.server().returnCreditNow();
        source.cap = 0; // a fill of nothing: the lap is left, nothing written, nothing published
        assertEquals(0, p.client().write(source, 100));
        source.cap = Integer.MAX_VALUE;
        assertEquals(RING, p.client().write(source, RING), "after a restart the whole ring is the writer's");
        p.client().publish();
        assertTrue(ringHolds(p, 0, 100, RING), "the source filled the next lap from its start");
        assertTrue(p.server().park(true, false), "the reader about to park follows the restart and finds a ring's worth to read");
        p.server().unpark();
        assertEquals(RING, p.server().readable());
        assertReadsPattern(p, dst, RING, 100, "after the restart");
    }

    @Test
    void noRestartWhileBytesOfTheRingAreLent() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf loan = lendFrom(p, 0, 8192);
        p.server().returnCreditNow();
        assertEquals(LEND_RING, p.client().credit(), "every byte read and credited");
        ByteBuf next = patterned(8192, 100);
        toClose.add(next::release);
        assertEquals(100, p.client().write(next, 0, 100));
        p.client().publish();
        assertTrue(ringHolds(p, 8192, 8192, 100), "the writer went on after the loan, not at the ring's start");
        assertPattern(loan, 0, "the loan");
        loan.release();
        ByteBuf dst = Unpooled.directBuffer(100);
        toClose.add(dst::release);
        assertEquals(100, p.server().readable());
        assertReadsPattern(p, dst, 100, 8192, "after the loan");
        p.server().returnCreditNow();
        roundTrip(p, 8292, 100);
        assertTrue(ringHolds(p, 8192, 8292, 100),
                "loan back, the writer left the lap and stepped over the loan's hole at the next lap's start");
        roundTrip(p, 8392, 100);
        assertTrue(ringHolds(p, 0, 8392, 100), "the hole passed, the next write goes to the ring's start");
    }

    @Test
    void aRestartThePeerWroteShortOfTheLapsEndIsAProtocolError() throws Exception {
        Pair p = open(RING, RING, true);
        roundTrip(p, 0, 100);
        // A broken writer: says it left the lap at 100 but publishes a cursor inside that lap.
        p.shared().set(JAVA_LONG, TO_SERVER_RESTARTED_AT, 100L);
        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, 200L);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> p.server().readable());
        assertTrue(e.getMessage().contains("producer cursor 200"), e.getMessage());
    }

    @Test
    void aRestartWithBytesOnLoanIsAProtocolError() throws Exception {
        Pair p = openLending(LEND_RING, true);
        ByteBuf loan = lendFrom(p, 0, 8192);
        toClose.add(loan::release);
        // A broken writer: leaves the lap while the reader still holds bytes of it as they lie.
        p.shared().set(JAVA_LONG, TO_SERVER_RESTARTED_AT, 8192L);
        p.shared().set(JAVA_LONG, TO_SERVER + PRODUCER, (long) LEND_RING + 10);
        RingProtocolException e = assertThrows(RingProtocolException.class, () -> p.server().readable());
        assertTrue(e.getMessage().contains("on loan"), e.getMessage());
        assertPattern(loan, 0, "the loan is untouched");
    }
}
