package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.vsocket.link.RingConnectionLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The channel over a ring link, without shared memory or a device: two {@link VSocketSocketChannel}s
 * joined by an in-memory ring pair ({@link MemoryRingLinks}) driven by the real
 * {@link RingConnectionLink}, each with a real TCP control connection to this test (which closes it
 * to play a dead peer). Covers what the channel and the ring link do between them: credit waits
 * and writability, the order of the last bytes, the end of input and the half-closure events, a
 * peer that dies, a link that fails.
 */
@Timeout(60)
class RingLinkChannelTest {
    private static VSocketEventLoopGroup group;
    private static ServerSocket controlServer;

    @BeforeAll
    static void start() throws IOException {
        group = new VSocketEventLoopGroup(1);
        controlServer = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    @AfterAll
    static void stop() throws Exception {
        controlServer.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void bytesLargerThanTheRingWaitForCreditAndArriveInOrderBothWays() throws Exception {
        Pair p = Pair.open(4096, false);
        byte[] ab = pattern(200_000, 1);
        byte[] ba = pattern(150_000, 7);
        p.a.write(ab);
        p.b.write(ba);
        await(() -> p.b.received.size() == ab.length && p.a.received.size() == ba.length, "both streams to arrive");
        assertArrayEquals(ab, p.b.received.toByteArray());
        assertArrayEquals(ba, p.a.received.toByteArray());
        assertTrue(p.a.link.creditWaits > 0, "a 200 kB write through a 4 kB ring waited for credit");
        assertTrue(p.a.events.contains("unwritable") && p.a.events.contains("writable"),
                "writability flipped while credit was out and back when it came: " + p.a.events);
        assertEquals(List.of(), p.a.exceptions());
        assertEquals(List.of(), p.b.exceptions());
        p.close();
    }

    @Test
    void halfClosureReadsEveryByteBeforeTheEventsAndTheOtherWayGoesOn() throws Exception {
        Pair p = Pair.open(4096, true);
        byte[] ab = pattern(50_000, 3);
        written(p.a.write(ab)); // in the ring (a shutdown fails what is still queued, as on any channel)
        p.a.channel.shutdownOutput().sync();
        await(() -> p.b.events.contains("inputShutdownReadComplete"), "b to see its input end");
        assertArrayEquals(ab, p.b.received.toByteArray());
        List<String> events = p.b.events;
        int lastRead = events.lastIndexOf("read");
        assertTrue(lastRead < events.indexOf("inputShutdown"), "every byte before the end of input: " + events);
        assertTrue(events.indexOf("inputShutdown") < events.indexOf("inputShutdownReadComplete"), events::toString);
        assertTrue(p.b.channel.isOpen() && p.b.channel.isInputShutdown() && !p.b.channel.isOutputShutdown());

        byte[] ba = pattern(30_000, 5);
        p.b.write(ba);
        await(() -> p.a.received.size() == ba.length, "b's reply after a's half-close");
        assertArrayEquals(ba, p.a.received.toByteArray());
        assertEquals(List.of(), p.a.exceptions());
        assertEquals(List.of(), p.b.exceptions());
        p.close();
    }

    @Test
    void aCleanCloseDeliversTheLastBytesThenTheEnd() throws Exception {
        Pair p = Pair.open(4096, false);
        byte[] ab = pattern(20_000, 9);
        written(p.a.write(ab)); // in the ring: a close drops what is still queued, as on any channel
        // The peer's process closes everything at once: end of output on the ring, then the control connection.
        p.a.channel.close().sync();
        p.a.control.close();
        // (Its inactive event, not isOpen(): the loop fires the event just after the channel reads as closed.)
        await(() -> p.b.events.contains("inactive"), "b to close after a's end");
        assertArrayEquals(ab, p.b.received.toByteArray());
        assertTrue(p.b.events.lastIndexOf("read") < p.b.events.indexOf("inactive"), p.b.events::toString);
        assertEquals(List.of(), p.b.exceptions(), "a clean end is no error");
        p.close();
    }

    @Test
    void aPeerWhoseControlConnectionEndsWithoutItsEndOfStreamDied() throws Exception {
        Pair p = Pair.open(4096, true);
        byte[] ab = pattern(1000, 2);
        p.a.write(ab);
        await(() -> p.b.received.size() == ab.length, "the bytes before the death");
        // a's process dies: the kernel closes its control connection; no end of output was written.
        p.b.control.close();
        await(() -> !p.b.channel.isOpen(), "b to close when its peer died");
        String error = onlyError(p.b);
        assertTrue(error.contains("its process died"), error);
        p.close();
    }

    /**
     * A dead peer reaches a channel that does not read (auto-read off): what it had published, then its
     * death, through the hang-up read, as epoll's hang-up read gives them (the channel waited for its
     * application's read before).
     */
    @Test
    void aDeadPeerReachesAChannelThatDoesNotRead() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b);
        byte[] ab = pattern(1000, 9);
        p.a.write(ab);
        await(() -> unread(p.b) == ab.length, "the bytes in b's ring");
        p.b.control.close(); // a's process dies
        await(() -> !p.b.channel.isOpen(), "b to close when its peer died, without a read of its application's");
        assertArrayEquals(ab, p.b.received.toByteArray(), "what the dead peer had sent, first");
        String error = onlyError(p.b);
        assertTrue(error.contains("its process died"), error);
        p.close();
    }

    /**
     * The same where the death waits for a grace (rdma's) and the ring's path fails meanwhile (the dead
     * peer's queue pair): the bytes lie whole in this side's ring, and the hang-up read takes them before
     * the failure is reported, the application not reading.
     */
    @Test
    void aDeadPeersBytesAreReadWhenThePathFailsBeforeItsDeathIsKnown() throws Exception {
        byte[] ab = pattern(1000, 10);
        Pair p = controlEndedWithBytesUnread(ab, false);
        assertTrue(p.b.channel.isOpen(), "the death waits for its grace");
        failTheRingsPath(p.b);
        await(() -> !p.b.channel.isOpen(), "b to close once it read what the dead peer had sent");
        assertArrayEquals(ab, p.b.received.toByteArray(), "what the dead peer had sent, first");
        String error = onlyError(p.b);
        assertTrue(error.contains("its process died"), error);
        assertTrue(error.contains("the path failed (test)"), error);
        p.close();
    }

    /**
     * A peer that closed cleanly, whose control connection's end came before its end of output (rdma's
     * end travels on the ring's own path: helper-51 saw the window), while this side wrote: the write
     * waits for which it was, and the peer's last bytes and its end are read as after any clean close.
     * A write that failed at once would close the channel with those bytes unread, and call the clean
     * end a reset.
     */
    @Test
    void aWriteWhileThePeersEndIsOnItsWayLosesNoneOfItsBytesAndIsNoError() throws Exception {
        byte[] ab = pattern(1000, 11);
        Pair p = controlEndedWithBytesUnread(ab, false);
        var write = p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(100, 12)));
        p.b.channel.eventLoop().submit(() -> null).sync(); // (the write's turn has run)
        assertTrue(p.b.channel.isOpen(), "a write while the peer's end may still come closed the channel: "
                + p.b.exceptions());
        p.a.channel.close().sync(); // a's end of output comes
        await(() -> !p.b.channel.isOpen(), "b to close after a's end");
        assertArrayEquals(ab, p.b.received.toByteArray(), "every byte a sent before its end");
        assertEquals(List.of(), p.b.exceptions(), "a clean end is no error");
        assertTrue(write.await(10, TimeUnit.SECONDS));
        assertFalse(write.isSuccess(), "nothing took the write");
        p.close();
    }

    /**
     * The peer writes its last bytes and closes, and a write of this side comes in the same turn, before
     * the hang-up read that takes them (a handler answering an earlier request, a task): as on epoll,
     * whose write to a peer that closed is taken, the reads still get every byte and the clean end, and
     * the write goes after them — taken, as a socket takes the first write after its peer's close, by a
     * channel that stays open for it (half-closure); with the channel, which closed at the end, otherwise.
     * Failing it at once closed the channel with those bytes unread, and called the clean end a reset
     * (helper-52's review).
     */
    @Test
    void aWriteInTheTurnThePeerClosedLetsTheReadsTakeItsLastBytesFirst() throws Exception {
        for (boolean halfClosure : new boolean[] {false, true}) {
            Pair p = Pair.open(4096, halfClosure);
            byte[] last = pattern(1000, 17);
            var write = p.b.channel.eventLoop().submit(() -> {
                // One loop serves both: nothing of b's runs between a's close and b's write.
                p.a.channel.writeAndFlush(Unpooled.wrappedBuffer(last));
                p.a.channel.close();
                assertTrue(p.b.link.ring.in.closed && p.b.link.ring.in.outputDone, "a closed cleanly");
                return p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(100, 18)));
            }).get();
            await(() -> p.b.events.contains(halfClosure ? "inputShutdownReadComplete" : "inactive"), "b to see a's end");
            assertArrayEquals(last, p.b.received.toByteArray(), "every byte the peer sent before its end");
            assertTrue(write.await(10, TimeUnit.SECONDS), "the write waited for good");
            assertEquals(halfClosure, write.isSuccess(), "the write after the reads: " + write.cause());
            assertEquals(List.of(), p.b.exceptions(), "a clean end is no error");
            assertEquals(halfClosure, p.b.channel.isOpen(), "open for its output only with half-closure");
            p.close();
        }
    }

    /**
     * The same write made by a handler of the hang-up read itself, which hands the peer's last bytes up a
     * buffer at a time (helper-53's probe: an echo that answered each read lost the rest of the ring, 2 in
     * 20 runs, when the first answer failed and closed the channel in the middle of that read).
     */
    @Test
    void aReplyFromTheHangUpReadLetsItReadToTheEnd() throws Exception {
        Pair p = Pair.open(256 * 1024, false);
        stopReading(p.b); // a's bytes wait in b's ring, to come up in the hang-up read after a's close
        byte[] last = pattern(64 * 1024, 19);
        written(p.a.write(last));
        p.b.replies = true;
        p.a.channel.close().sync();
        await(() -> p.b.events.contains("inactive"), "b to close after a's end");
        assertTrue(p.b.events.stream().filter("read"::equals).count() > 1, () -> "read a buffer at a time: " + p.b.events);
        assertFalse(p.b.replyWrites.isEmpty());
        readEverythingCleanlyAndTookNoWrite(p.b, last, p.b.replyWrites);
        p.close();
    }

    /**
     * A peer that ended its output, and later resets (closes with {@code SO_LINGER} 0): a half-closed
     * channel has read everything, and, as epoll's, hears nothing of the reset; its next write fails,
     * and closes it. It used to fire the reset as an error and close at once (helper-53's probe, 10 of
     * 10): a server still at work on its answer logged an error epoll's never sees.
     */
    @Test
    void aResetAfterThePeersEndIsNoErrorForAHalfClosedChannelButItsWritesFail() throws Exception {
        Pair p = Pair.open(4096, true);
        byte[] ab = pattern(1000, 21);
        written(p.a.write(ab));
        p.a.channel.shutdownOutput().sync();
        await(() -> p.b.events.contains("inputShutdownReadComplete"), "b to see a's end");
        p.b.control.setSoLinger(true, 0);
        p.b.control.close(); // a's process resets the connection
        await(() -> !onLoop(p.b, p.b.link::takesWritesBeforeClose), "b to read the reset (its peer gone)");
        p.b.channel.eventLoop().submit(() -> null).sync();
        assertTrue(p.b.channel.isOpen(), () -> "closed by the reset: " + p.b.errors);
        assertEquals(List.of(), p.b.exceptions(), "nothing to report after the end was read");
        assertArrayEquals(ab, p.b.received.toByteArray());
        var write = p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(100, 22)));
        assertTrue(write.await(10, TimeUnit.SECONDS), "the write waited for good");
        assertFalse(write.isSuccess(), "nothing took the write");
        await(() -> !p.b.channel.isOpen(), "b to close on its failed write");
        p.close();
    }

    /**
     * The same reset read before the peer's end (already in the ring) was: TCP keeps a peer's end ahead of
     * its reset, so epoll's reads meet the end, and nothing reports the reset. Here the control connection
     * is read first (as when its event is handled before the ring's in a turn): the reads still take every
     * byte and the end, with no error, half-closed or not (helper-54's review of the change above).
     */
    @Test
    void aResetReadBeforeThePeersEndInTheRingIsNoErrorEither() throws Exception {
        for (boolean halfClosure : new boolean[] {false, true}) {
            Pair p = Pair.open(4096, halfClosure);
            stopReading(p.b);
            byte[] ab = pattern(1000, 23);
            written(p.a.write(ab));
            p.b.control.setSoLinger(true, 0);
            p.b.channel.eventLoop().submit(() -> {
                // One loop serves both: a's end goes into b's ring, then b reads its control connection's reset
                // before its ring is looked at.
                p.a.channel.shutdownOutput();
                p.b.control.close();
                Thread.sleep(50); // (the reset reaches b's socket)
                p.b.link.socketReady(null);
                return null;
            }).get();
            await(() -> p.b.events.contains(halfClosure ? "inputShutdownReadComplete" : "inactive"), "b to see a's end");
            readEverythingCleanlyAndTookNoWrite(p.b, ab, List.of());
            p.close();
        }
    }

    /**
     * On rdma a peer's end travels on the queue pair and its reset on TCP, which can come first (a peer
     * that shuts its output, then closes with {@code SO_LINGER} 0): the reset is held for a grace (here,
     * as on rdma) and is no error once the end comes — the reads take every byte and the end, half-closed
     * or not, as epoll's, where TCP keeps the end ahead of the reset — and a write made meanwhile waits,
     * then fails. Such a reset was reported at once before, after the bytes (helper-54's review).
     */
    @Test
    void aResetThatOvertookThePeersEndIsNoErrorOnceTheEndComes() throws Exception {
        for (boolean halfClosure : new boolean[] {false, true}) {
            Pair p = Pair.open(4096, halfClosure);
            p.b.link.resetWaitsForGrace = true;
            stopReading(p.b);
            byte[] ab = pattern(1000, 24);
            p.a.write(ab);
            await(() -> unread(p.b) == ab.length, "the bytes in b's ring");
            resetReadBeforeTheEnd(p);
            var write = p.b.write(pattern(100, 25));
            onLoop(p.b, () -> null);
            assertTrue(p.b.channel.isOpen(), () -> "closed by the held reset: " + p.b.errors);
            assertFalse(write.isDone(), "the write waits for the peer's end or its reset");
            p.a.channel.shutdownOutput().sync(); // a's end comes on the link, after its reset
            await(() -> p.b.events.contains(halfClosure ? "inputShutdownReadComplete" : "inactive"), "b to see a's end");
            readEverythingCleanlyAndTookNoWrite(p.b, ab, List.of(write));
            p.close();
        }
    }

    /**
     * A write already waiting for credit when the reset is held (the peer took nothing more, shut its output, then
     * reset): once the end comes it fails, rather than wait for credit that can never come (helper-57's review: the
     * half-closed channel's write waited for good).
     */
    @Test
    void aWriteWaitingForCreditFailsOnceTheEndOfAPeerThatResetComes() throws Exception {
        Pair p = Pair.open(4096, true);
        p.b.link.resetWaitsForGrace = true;
        stopReading(p.a); // a takes nothing: b's write waits for credit
        var write = p.b.write(pattern(64 * 1024, 31));
        await(p.b.link::waitsForCredit, "b to wait for credit");
        resetReadBeforeTheEnd(p);
        p.a.channel.shutdownOutput().sync(); // a's end comes on the link, after its reset
        await(() -> p.b.events.contains("inputShutdownReadComplete"), "b to see a's end");
        assertTrue(write.await(10, TimeUnit.SECONDS), "the write waited for good");
        assertFalse(write.isSuccess(), "nothing took the write");
        p.close();
    }

    /** A held reset whose peer's end never comes is reported once the grace runs out, after the bytes. */
    @Test
    void aHeldResetIsReportedAfterThePeersBytesWhenTheGraceRunsOut() throws Exception {
        Pair p = heldResetWithBytesUnread(pattern(1000, 26));
        onLoop(p.b, () -> {
            p.b.link.graceRunsOut();
            return null;
        });
        theHeldResetIsReportedAfter(p, pattern(1000, 26));
    }

    /** The peer's abort on the link (a reset without its end of output) reports a held reset at once. */
    @Test
    void aHeldResetIsReportedWhenThePeersAbortComes() throws Exception {
        Pair p = heldResetWithBytesUnread(pattern(1000, 27));
        onLoop(p.b, () -> {
            p.b.link.peerAborts();
            return null;
        });
        theHeldResetIsReportedAfter(p, pattern(1000, 27));
    }

    /** The ring's path failing (the peer's queue pair gone) reports a held reset, not the path's error. */
    @Test
    void aHeldResetIsReportedWhenThePathFails() throws Exception {
        Pair p = heldResetWithBytesUnread(pattern(1000, 28));
        failTheRingsPath(p.b);
        theHeldResetIsReportedAfter(p, pattern(1000, 28));
    }

    /**
     * After the peer's end and its reset (no error: above), the ring's path failing — on rdma, the reset
     * peer's queue pair gone, as a credit return to it errs — reports nothing to the channel that stayed
     * open for its output; its next write fails (helper-54's review: it fired a second, late error).
     */
    @Test
    void aPathFailureAfterThePeersEndAndResetReportsNothing() throws Exception {
        Pair p = Pair.open(4096, true);
        byte[] ab = pattern(1000, 29);
        written(p.a.write(ab));
        p.a.channel.shutdownOutput().sync();
        await(() -> p.b.events.contains("inputShutdownReadComplete"), "b to see a's end");
        p.b.control.setSoLinger(true, 0);
        p.b.control.close();
        await(() -> !onLoop(p.b, p.b.link::takesWritesBeforeClose), "b to read the reset");
        failTheRingsPath(p.b);
        for (int i = 0; i < 20; i++) {
            onLoop(p.b, () -> null); // turns in which the link looks at its failed path
        }
        assertTrue(p.b.channel.isOpen(), () -> "closed: " + p.b.errors);
        assertEquals(List.of(), p.b.exceptions(), "nothing to report after the end was read");
        var write = p.b.write(pattern(100, 30));
        assertTrue(write.await(10, TimeUnit.SECONDS), "the write waited for good");
        assertFalse(write.isSuccess(), "nothing took the write");
        p.close();
    }

    /** b holds a reset read before a's end (a's bytes unread in b's ring), without half-closure. */
    private static Pair heldResetWithBytesUnread(byte[] ab) throws Exception {
        Pair p = Pair.open(4096, false);
        p.b.link.resetWaitsForGrace = true;
        stopReading(p.b);
        p.a.write(ab);
        await(() -> unread(p.b) == ab.length, "the bytes in b's ring");
        resetReadBeforeTheEnd(p);
        assertTrue(p.b.channel.isOpen(), () -> "closed by the held reset: " + p.b.errors);
        return p;
    }

    /** b closes with the reset, after reading {@code ab}, not reading of its own accord. */
    private static void theHeldResetIsReportedAfter(Pair p, byte[] ab) throws Exception {
        await(() -> !p.b.channel.isOpen(), "b to close on the reset");
        assertArrayEquals(ab, p.b.received.toByteArray(), "the peer's bytes, read before the reset is reported");
        String error = onlyError(p.b);
        assertTrue(error.contains("reset"), error);
        p.close();
    }

    /** b reads its control connection's reset (a's process resetting it) before a's end is in its ring, and holds it. */
    private static void resetReadBeforeTheEnd(Pair p) throws Exception {
        p.b.control.setSoLinger(true, 0);
        p.b.channel.eventLoop().submit(() -> {
            p.b.control.close();
            Thread.sleep(50); // (the reset reaches b's socket)
            p.b.link.socketReady(null);
            return null;
        }).get();
        assertTrue(p.b.link.resetHeld, "the reset held for a's end");
    }

    /**
     * A channel that allows half-closure meets its dead peer's error through its reads and stays open:
     * a write after it fails, as a write to a gone peer does, instead of waiting for an end that never
     * comes (helper-52's review of the writes held for the peer's end).
     */
    @Test
    void aHalfClosedChannelsWriteAfterItsDeadPeersErrorFails() throws Exception {
        Pair p = Pair.open(4096, true);
        stopReading(p.b); // the dead peer's bytes are still unread: its error comes through the reads
        byte[] ab = pattern(1000, 13);
        p.a.write(ab);
        await(() -> unread(p.b) == ab.length, "the bytes in b's ring");
        p.b.control.close(); // a's process dies
        await(() -> !p.b.errors.isEmpty(), "b to be told of the death");
        assertArrayEquals(ab, p.b.received.toByteArray(), "what the dead peer had sent, first");
        assertTrue(p.b.channel.isOpen(), () -> "half-closed, not closed: " + p.b.events + " " + p.b.errors);
        // The path failing since (rdma: the dead peer's queue pair, as a credit return to it errs) is no second error.
        failTheRingsPath(p.b);
        for (int i = 0; i < 20; i++) {
            onLoop(p.b, () -> null);
        }
        assertEquals(1, p.b.exceptions().size(), () -> "reported again: " + p.b.errors);
        assertTrue(p.b.channel.isOpen(), "still half-closed");
        var write = p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(100, 14)));
        assertTrue(write.await(10, TimeUnit.SECONDS), "the write waited for an end that never comes");
        assertFalse(write.isSuccess(), "nothing took the write");
        assertTrue(write.cause() instanceof IOException, String.valueOf(write.cause()));
        p.close();
    }

    /**
     * Writes held while the peer's end may still come (rdma's grace) go on once its death is known
     * instead: here the ring's path fails during the grace (the dead peer's queue pair), its bytes are
     * read, and the held write fails with the death rather than waiting for good — the death reaches the
     * application through it, as epoll's reset does a write that waits (no error caught as well).
     */
    @Test
    void aWriteHeldDuringTheGraceFailsOnceThePeersDeathIsKnown() throws Exception {
        byte[] ab = pattern(1000, 15);
        Pair p = controlEndedWithBytesUnread(ab, true);
        var write = p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(100, 16)));
        p.b.channel.eventLoop().submit(() -> null).sync(); // (the write's turn has run)
        assertFalse(write.isDone(), "held while a's end may still come");
        failTheRingsPath(p.b);
        assertTrue(write.await(10, TimeUnit.SECONDS), "the held write waited for an end that never comes");
        assertFalse(write.isSuccess(), "nothing took the write");
        assertArrayEquals(ab, p.b.received.toByteArray(), "what the dead peer had sent, first");
        String error = write.cause().getMessage();
        assertTrue(error.contains("its process died"), error);
        await(() -> !p.b.channel.isOpen(), "b to close");
        assertEquals(List.of(), p.b.exceptions(), "the death went to the waiting write");
        p.close();
    }

    @Test
    void writesWaitingForCreditFailWhenThePeerGoes() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b); // b takes nothing: a's writes wait for credit
        var write = p.a.channel.writeAndFlush(Unpooled.wrappedBuffer(pattern(64 * 1024, 4)));
        await(p.a.link::waitsForCredit, "a to wait for credit");
        assertFalse(write.isDone(), "the write waits while the ring is full");
        p.b.channel.close().sync();
        p.a.control.close();
        assertFalse(write.await(10, TimeUnit.SECONDS) && write.isSuccess(), "a write that can never arrive succeeded");
        assertTrue(write.isDone());
        assertTrue(write.cause() instanceof IOException, String.valueOf(write.cause()));
        await(() -> !p.a.channel.isOpen(), "a to close");
        p.close();
    }

    /**
     * b closes with a's bytes unread in its ring, which resets the connection (as a socket's close with
     * bytes in its receive queue does): a, waiting for credit, still reads b's last bytes, and then
     * learns of the reset (here from its control connection, as a real link's peer does when the
     * closing side's socket goes with SO_LINGER 0) through its waiting write, which fails with it, as
     * epoll's (whose error event flushes before it reads): no error caught as well.
     */
    @Test
    void aWriterWaitingForCreditStillReadsThePeersLastBytesBeforeThePeersReset() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b); // b takes nothing: a's writes wait for credit
        var waiting = p.a.write(pattern(64 * 1024, 4));
        await(p.a.link::waitsForCredit, "a to wait for credit");
        byte[] last = pattern(1000, 8);
        // b's last bytes and its close in one go: a meets them both while it waits for credit.
        p.b.channel.eventLoop().submit(() -> {
            p.b.channel.writeAndFlush(Unpooled.wrappedBuffer(last));
            p.b.channel.close();
        }).sync();
        assertFalse(p.b.link.ring.out.outputDone, "b's close was a reset, not an end of output");
        p.a.control.setSoLinger(true, 0);
        p.a.control.close();
        await(() -> !p.a.channel.isOpen(), "a to close after b's reset");
        assertArrayEquals(last, p.a.received.toByteArray(), "the peer's last bytes, read before the reset is reported");
        assertTrue(waiting.await(10, TimeUnit.SECONDS));
        String error = String.valueOf(waiting.cause());
        assertTrue(waiting.cause() instanceof IOException && error.contains("reset"), error);
        assertEquals(List.of(), p.a.exceptions(), "the reset went to the waiting write");
        p.close();
    }

    /**
     * Only the connection's end goes to a waiting write (as epoll's reset does): another failure met while
     * writes wait for credit — the ring broken, a peer's protocol violation — reaches the pipeline as
     * before, and the writes fail with the channel's close.
     */
    @Test
    void aLinkFailureOtherThanTheConnectionsEndStillReachesThePipelineWhileWritesWait() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b);
        var waiting = p.a.write(pattern(64 * 1024, 4));
        await(p.a.link::waitsForCredit, "a to wait for credit");
        p.a.channel.eventLoop().submit(() -> p.a.link.ring.failure = new IOException("the ring broke (test)")).sync();
        await(() -> !p.a.channel.isOpen(), "a to close when its link failed");
        assertEquals("the ring broke (test)", onlyError(p.a));
        assertTrue(waiting.await(10, TimeUnit.SECONDS) && !waiting.isSuccess(), "the waiting write failed with the close");
        p.close();
    }

    /**
     * Behind an output shut-down that waits for the writes, a reset is the pipeline's, as on epoll, whose
     * shut-down fails what its buffer holds at once and whose read then reports the reset.
     */
    @Test
    void aResetBehindAHeldOutputShutdownReachesThePipeline() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b);
        p.a.write(pattern(64 * 1024, 4));
        await(p.a.link::waitsForCredit, "a to wait for credit");
        assertTrue(p.a.channel.shutdownOutput().await(10, TimeUnit.SECONDS), "the shut-down is done for the application");
        p.b.channel.close().sync(); // a's bytes unread in b's ring: a reset
        p.a.control.setSoLinger(true, 0);
        p.a.control.close();
        await(() -> !p.a.channel.isOpen(), "a to close after b's reset");
        String error = onlyError(p.a);
        assertTrue(error.contains("reset"), error);
        p.close();
    }

    @Test
    void aFailedLinkClosesItsChannelWithTheLinksError() throws Exception {
        Pair p = Pair.open(4096, false);
        p.a.channel.eventLoop().submit(() -> p.a.link.ring.failure = new IOException("the ring broke (test)")).sync();
        await(() -> !p.a.channel.isOpen(), "a to close when its link failed");
        assertEquals("the ring broke (test)", onlyError(p.a));
        p.close();
    }

    @Test
    void withAutoReadOffBytesWaitForRead() throws Exception {
        Pair p = Pair.open(4096, false);
        stopReading(p.b);
        byte[] ab = pattern(1000, 6);
        p.a.write(ab);
        await(() -> p.b.link.ring.readable() == ab.length, "the bytes to reach b's ring");
        p.b.channel.eventLoop().submit(() -> { }).sync();
        assertEquals(0, p.b.received.size(), "nothing read before read()");
        p.b.channel.read();
        await(() -> p.b.received.size() == ab.length, "read() to read");
        assertArrayEquals(ab, p.b.received.toByteArray());
        p.close();
    }

    /** The end read every byte of {@code sent} and a clean end, and nothing took {@code writes}. */
    private static void readEverythingCleanlyAndTookNoWrite(End end, byte[] sent, List<io.netty.channel.ChannelFuture> writes)
            throws InterruptedException {
        assertArrayEquals(sent, end.received.toByteArray(), "every byte the peer sent before its end");
        for (var write : writes) {
            assertTrue(write.await(10, TimeUnit.SECONDS), "a write waited for good");
            assertFalse(write.isSuccess(), "nothing took a write");
        }
        assertEquals(List.of(), end.exceptions(), "a clean end is no error");
    }

    /** Asks on the end's loop. */
    private static <T> T onLoop(End end, java.util.concurrent.Callable<T> question) {
        try {
            return end.channel.eventLoop().submit(question).get();
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What the end's ring holds unread, asked on its loop. */
    private static int unread(End end) {
        return onLoop(end, end.link.ring::readable);
    }

    private static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 31 + seed + (i >>> 8));
        }
        return bytes;
    }

    /** The end's ring path fails, as the queue pair of a dead rdma peer makes it ("the path failed (test)"). */
    private static void failTheRingsPath(End end) throws InterruptedException {
        end.channel.eventLoop().submit(() -> end.link.ring.failure = new IOException("the path failed (test)")).sync();
    }

    /**
     * a's {@code ab} in b's ring, unread (b does not read), and then b's control connection ends before
     * a's end of output: a's process died, or its end is on its way. b's link waits out its grace (as
     * rdma's), which never runs out here.
     */
    private static Pair controlEndedWithBytesUnread(byte[] ab, boolean halfClosure) throws Exception {
        Pair p = Pair.open(4096, halfClosure);
        p.b.link.deathWaitsForGrace = true;
        stopReading(p.b);
        p.a.write(ab);
        await(() -> unread(p.b) == ab.length, "the bytes in b's ring");
        p.b.control.close();
        await(() -> p.b.link.controlEndedFirst, "b to see its control connection end");
        return p;
    }

    /** Waits for a write to be in the ring (it needs the peer to read, for credit). */
    private static void written(io.netty.channel.ChannelFuture write) throws InterruptedException {
        assertTrue(write.await(20, TimeUnit.SECONDS), "timed out waiting for a write to go into the ring");
        assertTrue(write.isSuccess(), () -> "the write failed: " + write.cause());
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    /** Stops an end's reads (auto-read off), on its loop before anything comes. */
    private static void stopReading(End end) throws InterruptedException {
        end.channel.config().setAutoRead(false);
        end.channel.eventLoop().submit(() -> { }).sync();
    }

    /** The one error an end's pipeline saw, its message. */
    private static String onlyError(End end) {
        List<Throwable> errors = end.exceptions();
        assertEquals(1, errors.size(), errors::toString);
        return errors.get(0).getMessage();
    }

    /** Two channels joined by an in-memory ring pair. */
    private record Pair(End a, End b) {
        static Pair open(int capacity, boolean halfClosure) throws Exception {
            MemoryRingLinks.Way ab = new MemoryRingLinks.Way(capacity);
            MemoryRingLinks.Way ba = new MemoryRingLinks.Way(capacity);
            End a = End.open(MemoryRingLinks.Ring.plain(ab, ba), halfClosure);
            End b = End.open(MemoryRingLinks.Ring.plain(ba, ab), halfClosure);
            return new Pair(a, b);
        }

        void close() throws Exception {
            a.close();
            b.close();
        }
    }

    /** One channel, its control connection's far end (this test's), and what its pipeline saw. */
    private static final class End extends ChannelInboundHandlerAdapter {
        final VSocketSocketChannel channel = new VSocketSocketChannel();
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();
        Socket control;
        MemoryRingLinks.Polled link;
        /** Each read is answered with a write from the handler, whose futures are kept. */
        volatile boolean replies;
        final List<io.netty.channel.ChannelFuture> replyWrites = new CopyOnWriteArrayList<>();

        static End open(MemoryRingLinks.Ring ring, boolean halfClosure) throws Exception {
            End end = new End();
            VSocketSocketChannel ch = end.channel;
            ch.config().setAllowHalfClosure(halfClosure);
            ch.config().setWriteBufferWaterMark(new io.netty.channel.WriteBufferWaterMark(4096, 8192));
            ch.pipeline().addLast(end);
            ch.socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), controlServer.getLocalPort()));
            end.control = controlServer.accept(); // the handshake is done: the channel's socket is connected
            group.register(ch).sync();
            ch.eventLoop().submit(() -> {
                end.link = new MemoryRingLinks.Polled(ch.linkHost(), ch.socket, ch.config(), ring);
                ch.linkHost().linkEstablished(end.link, null); // as the hello does when it picked a ring link
            }).sync();
            return end;
        }

        io.netty.channel.ChannelFuture write(byte[] bytes) {
            return channel.writeAndFlush(Unpooled.wrappedBuffer(bytes));
        }

        List<Throwable> exceptions() {
            return List.copyOf(errors);
        }

        void close() throws Exception {
            channel.close().sync();
            control.close();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            synchronized (received) {
                byte[] bytes = new byte[buf.readableBytes()];
                buf.readBytes(bytes);
                received.writeBytes(bytes);
            }
            buf.release();
            events.add("read");
            if (replies) {
                replyWrites.add(ctx.writeAndFlush(Unpooled.wrappedBuffer(pattern(10, 20))));
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                events.add("inputShutdown");
            } else if (evt == ChannelInputShutdownReadComplete.INSTANCE) {
                events.add("inputShutdownReadComplete");
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            events.add(ctx.channel().isWritable() ? "writable" : "unwritable");
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            events.add("inactive");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            errors.add(cause);
        }
    }
}
