package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The shm link's doorbell, one end in each process. Whatever the peer does with the end it holds, a
 * ring must return at once: an eventfd shared with the peer let it freeze the loop that rang (a full
 * counter on a description it made blocking; helper-47's and helper-49's probes). Both ends here come
 * from one socket pair, standing for the set-up's connection.
 */
class DoorbellTest {
    @Test
    void aRingWakesTheOtherEndsEdgeTriggeredWatcherEachTimeBothWays() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        try (Doorbell ours = pair.first(); Doorbell theirs = pair.second(); Epoll epoll = Epoll.create(4)) {
            epoll.add(ours.fd(), LibC.EPOLLIN | LibC.EPOLLET, 1);
            epoll.add(theirs.fd(), LibC.EPOLLIN | LibC.EPOLLET, 2);
            assertEquals(0, epoll.wait(0), "a new doorbell is quiet");
            for (int i = 0; i < 3; i++) {
                ours.ring();
                assertEquals(1, epoll.wait(0), "ring " + i + " wakes the other end's watcher");
                assertEquals(2, epoll.readyData(0), "the other end's, not the ringer's");
                assertEquals(0, epoll.wait(0), "and only once");
                theirs.drain();
                theirs.ring();
                assertEquals(1, epoll.wait(0), "the other way too");
                assertEquals(1, epoll.readyData(0));
                ours.drain();
            }
            assertEquals(-1, recvOne(ours), "drained: nothing left to read");
        }
    }

    @Test
    void aRingNeverBlocksWhateverThePeerDidToEitherEnd() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        Doorbell ours = pair.first();
        boolean rang = false;
        try (Doorbell theirs = pair.second(); Epoll epoll = Epoll.create(4)) {
            epoll.add(theirs.fd(), LibC.EPOLLIN | LibC.EPOLLET, 2);
            // What a hostile peer can do: never read its end, fill it, make it blocking (and this side's
            // too, where it held a copy, as the maker of a pair it passed could).
            int filled = fill(ours);
            assertTrue(filled > 0, "the peer's end took " + filled + " bytes before it was full");
            makeBlocking(ours.fd());
            makeBlocking(theirs.fd());
            epoll.wait(0);
            // A send of one byte that could wait would wait here for good; a ring returns.
            assertTimeoutPreemptively(Duration.ofSeconds(10), ours::ring, "the ring blocked");
            assertTimeoutPreemptively(Duration.ofSeconds(10), ours::ring, "the second ring blocked");
            rang = true;
            // The rings lost nothing: the peer's end is readable; once it reads, rings reach it again.
            assertEquals(filled, readAll(theirs), "the rings were turned away (the end was readable already)");
            epoll.wait(0);
            ours.ring();
            assertEquals(1, epoll.wait(0), "a ring after the peer read its end wakes it");
        } finally {
            if (rang) {
                ours.close(); // (a ring stuck in send(2) holds the lock close takes: the test fails instead of hanging)
            }
        }
    }

    /**
     * Why each side reads only a socket no other process holds (the set-up's connection, not a pair
     * one side made and passed): a read of a Unix socket holds the socket's read lock while it copies,
     * and a process holding the same socket can make that copy wait for good — reading into memory
     * whose page fault it never serves. Every other read of that socket then waits behind it, a
     * loop's read-back included; a ring takes no lock of the reader's and returns, and the other end's
     * reads are another socket's.
     */
    @Test
    void aReadStuckInAPageFaultHoldsUpOtherReadsOfItsSocketButNoRing() throws Throwable {
        Userfault stall = Userfault.open();
        assumeTrue(stall != null, "userfaultfd with faults in the kernel needs privileges this process lacks");
        Doorbell.Pair pair = Doorbell.pair();
        Thread stuck = null;
        CompletableFuture<Boolean> drained = null;
        try (Doorbell ours = pair.first(); Doorbell theirs = pair.second(); Epoll faults = Epoll.create(1)) {
            faults.add(stall.fd(), LibC.EPOLLIN, 1);
            ours.ring(); // a byte for the stalled read to copy
            stuck = new Thread(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    LibC.recv(Downcalls.newErrnoState(arena), theirs.fd(), stall.page(), 1, LibC.MSG_DONTWAIT);
                }
            }, "read-into-a-stalled-page");
            stuck.start();
            assertEquals(1, faults.wait(10_000), "the read's copy met the unserved page");

            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                for (int i = 0; i < 100; i++) {
                    ours.ring();
                }
            }, "a ring waited for the stalled reader");
            theirs.ring();
            assertTimeoutPreemptively(Duration.ofSeconds(10), ours::drain, "the other end's read-back waited");
            drained = CompletableFuture.supplyAsync(theirs::drain);
            CompletableFuture<Boolean> waiting = drained;
            assertThrows(TimeoutException.class, () -> waiting.get(500, TimeUnit.MILLISECONDS),
                    "a read-back of the socket a stalled read holds waits behind it");
            stall.close();
            assertTrue(drained.get(10, TimeUnit.SECONDS), "once the page is served the read-back goes on");
            stuck.join(10_000);
            assertFalse(stuck.isAlive(), "the stalled read went on");
        } finally {
            stall.close();
            if (stuck != null) {
                stuck.join(10_000);
            }
            if (stuck == null || !stuck.isAlive()) {
                stall.unmap();
            }
        }
    }

    @Test
    void drainTakesEveryRingAndRingsAreTakenAgainAfterIt() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        try (Doorbell ours = pair.first(); Doorbell theirs = pair.second(); Epoll epoll = Epoll.create(4)) {
            epoll.add(theirs.fd(), LibC.EPOLLIN | LibC.EPOLLET, 2);
            for (int round = 0; round < 50; round++) {
                for (int i = 0; i < 20; i++) {
                    ours.ring(); // many rings between two wake-ups: the watcher was slow
                }
                assertEquals(1, epoll.wait(0), "round " + round + ": the rings woke the watcher");
                theirs.drain();
                assertEquals(-1, recvOne(theirs), "round " + round + ": the drain took every ring");
            }
            // A peer that fills its end with more than one drain takes: each drain takes a bounded share,
            // and each further byte that comes wakes the watcher for the next.
            int filled = fill(theirs);
            ours.drain();
            assertTrue(recvOne(ours) >= 0 || filled <= 2048, "a flood is drained a bounded share at a time");
        }
    }

    @Test
    void answeringEachWakeUpKeepsEveryRingComing() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        try (Doorbell ours = pair.first(); Doorbell theirs = pair.second(); Epoll epoll = Epoll.create(4)) {
            epoll.add(theirs.fd(), LibC.EPOLLIN | LibC.EPOLLET, 2);
            // Three rings per wake-up (more than a peer rings per sleep of this side): without the read-backs
            // the end would hold no more after about 90 wake-ups, and the next ring would wake nobody.
            for (int i = 0; i < 3_000; i++) {
                ours.ring();
                ours.ring();
                ours.ring();
                assertEquals(1, epoll.wait(0), "wake-up " + i);
                theirs.answer();
            }
        }
    }

    @Test
    void descriptorsPassedThroughTheDoorbellAreTakenAndClosedOffTheDrainingThread() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        try (Doorbell ours = pair.first(); Doorbell theirs = pair.second(); LingeringTcp lingering = LingeringTcp.open()) {
            // A hostile peer passes a socket whose last close waits a minute, and lets go of its own copy: left
            // to the kernel, the drain's recv would release it, and wait, on the loop that drains.
            int fd = lingering.detach();
            UnixSocket.send(ours.fd(), "the peer's end", new byte[] {1}, fd);
            FileDescriptors.closeQuietly(fd);
            boolean clean = assertTimeoutPreemptively(Duration.ofSeconds(10), theirs::drain,
                    "the drain waited on the peer's lingering socket");
            assertFalse(clean, "the drain tells that the peer passed a descriptor");
            ours.ring();
            assertTrue(theirs.drain(), "rings alone again");
        }
    }

    @Test
    void closingAnEndThatHoldsAPassedDescriptorReturns() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        Doorbell theirs = pair.second();
        try (Doorbell ours = pair.first(); LingeringTcp lingering = LingeringTcp.open()) {
            int fd = lingering.detach();
            UnixSocket.send(ours.fd(), "the peer's end", new byte[] {1}, fd);
            FileDescriptors.closeQuietly(fd);
            // Never drained: the close itself would release the queued socket on this thread.
            assertTimeoutPreemptively(Duration.ofSeconds(10), theirs::close, "the close waited on the peer's lingering socket");
        }
    }

    @Test
    void closingAnEndTakesEveryDescriptorPassedBetweenUnreadRings() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        Doorbell theirs = pair.second();
        try (Doorbell ours = pair.first(); LingeringTcp first = LingeringTcp.open(); LingeringTcp second = LingeringTcp.open()) {
            for (LingeringTcp lingering : new LingeringTcp[] {first, second}) {
                for (int i = 0; i < 100; i++) {
                    ours.ring();
                }
                int fd = lingering.detach();
                UnixSocket.send(ours.fd(), "the peer's end", new byte[] {1}, fd);
                FileDescriptors.closeQuietly(fd);
            }
            // A read stops with the first descriptor, short of a full read: the close must read on to the
            // second, or it would release that queued socket on this thread.
            assertTimeoutPreemptively(Duration.ofSeconds(10), theirs::close, "the close waited on the peer's lingering socket");
        }
    }

    @Test
    void theOtherEndsCloseIsSeenOnlyOnceItIsClosedRingsQueuedBeforeItOrNot() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        Doorbell theirs = pair.second();
        try (Doorbell ours = pair.first()) {
            theirs.ring();
            assertFalse(ours.otherEndClosed(), "open, a ring queued");
            assertFalse(ours.otherEndClosed(), "open, nothing queued");
            theirs.ring();
            theirs.ring();
            theirs.close(); // (as the kernel closes it when the peer's process ends) with two rings unread
            assertTrue(ours.otherEndClosed(), "closed behind two unread rings");
            assertTrue(ours.otherEndClosed(), "still closed");
            ours.close();
            assertFalse(ours.otherEndClosed(), "this end closed: nothing to say of the other");
        } finally {
            theirs.close();
        }
    }

    @Test
    void ringsToAClosedEndReturn() throws Exception {
        Doorbell.Pair pair = Doorbell.pair();
        pair.second().close(); // the peer's process ended
        try (Doorbell ours = pair.first()) {
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                ours.ring(); // EPIPE, and no SIGPIPE
                ours.ring();
                ours.drain(); // end of stream
            });
        }
    }

    @Test
    void adoptRefusesWhatIsNoUnixStreamSocket() throws Exception {
        // An eventfd (what a peer of hello version 4 sent), a memfd, a datagram socket: each is closed, with an error.
        EventFd eventFd = EventFd.create();
        int fromEventFd = FileDescriptors.duplicate(eventFd.fd());
        eventFd.close();
        MemFd memFd = MemFd.create("vsocket-test", 4096);
        int fromMemFd = FileDescriptors.duplicate(memFd.fd());
        memFd.close();
        int[] datagrams = socketPair(LibC.SOCK_DGRAM);
        FileDescriptors.closeQuietly(datagrams[1]);
        for (int fd : new int[] {fromEventFd, fromMemFd, datagrams[0]}) {
            NativeIoException e = assertThrows(NativeIoException.class, () -> Doorbell.adopt(fd));
            assertTrue(e.getMessage().contains("no Unix stream socket"), e.getMessage());
            assertTrue(PeerDescriptors.settle(5000), "closed off this thread (a socket's close could wait)");
            assertEquals(-1, fcntlGetFd(fd), "the refused descriptor " + fd + " is closed");
        }

        int[] stream = socketPair(LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK);
        try (Doorbell ours = Doorbell.adopt(stream[0]); Doorbell adopted = Doorbell.adopt(stream[1]);
             Epoll epoll = Epoll.create(4)) {
            epoll.add(adopted.fd(), LibC.EPOLLIN | LibC.EPOLLET, 2);
            ours.ring();
            assertEquals(1, epoll.wait(0), "an adopted Unix stream socket is rung");
        }
    }

    /** Sends from {@code end} until the other end's socket takes no more; returns the bytes it took. */
    private static int fill(Doorbell end) {
        return pump(end, true);
    }

    /** Reads {@code end} without waiting until it is empty; returns the bytes read. */
    private static int readAll(Doorbell end) {
        return pump(end, false);
    }

    /** Sends or receives 4 KiB at a time, never waiting, until the call is turned away; the bytes moved. */
    private static int pump(Doorbell end, boolean send) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment chunk = arena.allocate(4096);
            int total = 0;
            long n;
            while ((n = send ? LibC.send(errno, end.fd(), chunk, chunk.byteSize(), LibC.MSG_DONTWAIT)
                    : LibC.recv(errno, end.fd(), chunk, chunk.byteSize(), LibC.MSG_DONTWAIT)) > 0) {
                total += (int) n;
            }
            assertEquals(LibC.EAGAIN, Downcalls.errno(errno), send ? "full" : "empty");
            return total;
        }
    }

    /** One byte read from {@code end} without waiting: the byte, or -1 when there was none. */
    private static int recvOne(Doorbell end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment b = arena.allocate(1);
            return LibC.recv(errno, end.fd(), b, 1, LibC.MSG_DONTWAIT) == 1 ? b.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xff : -1;
        }
    }

    private static void makeBlocking(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int flags = LibC.fcntl(errno, fd, LibC.F_GETFL, 0);
            assertTrue(flags >= 0);
            assertEquals(0, LibC.fcntl(errno, fd, LibC.F_SETFL, flags & ~LibC.O_NONBLOCK));
        }
    }

    private static int fcntlGetFd(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            return LibC.fcntl(Downcalls.newErrnoState(arena), fd, LibC.F_GETFD, 0);
        }
    }

    private static int[] socketPair(int type) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            assertEquals(0, LibC.socketpair(errno, LibC.AF_UNIX, type | LibC.SOCK_CLOEXEC, 0, fds));
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        }
    }
}
