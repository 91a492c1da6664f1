package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shm link's doorbell: shared with the peer's process, which shares the descriptor's flags and
 * counter too. A hostile peer that cleared O_NONBLOCK and filled the counter once froze a loop for good
 * in the write of its ring (helper-47's probe); a ring must wake the watcher and return whatever the
 * peer did to either.
 */
class EventFdTest {
    @Test
    void aRingWakesAnEdgeTriggeredWatcherEachTime() throws Exception {
        try (EventFd bell = EventFd.createDoorbell(); Epoll epoll = Epoll.create(4)) {
            epoll.add(bell.fd(), LibC.EPOLLIN | LibC.EPOLLET, 7);
            assertEquals(1, epoll.wait(0), "a doorbell starts readable (its counter at one)");
            assertEquals(0, epoll.wait(0), "edge-triggered: nothing new");
            for (int i = 0; i < 3; i++) {
                bell.ring();
                assertEquals(1, epoll.wait(0), "ring " + i + " wakes the watcher");
                assertEquals(7, epoll.readyData(0));
                assertEquals(0, epoll.wait(0), "and only once");
            }
        }
    }

    @Test
    void aRingNeverBlocksWhateverThePeerDidToTheSharedDescriptor() throws Exception {
        EventFd bell = EventFd.createDoorbell();
        boolean rang = false;
        try (Epoll epoll = Epoll.create(4); Arena arena = Arena.ofConfined()) {
            epoll.add(bell.fd(), LibC.EPOLLIN | LibC.EPOLLET, 1);
            epoll.wait(0);
            // What the peer can do with its copy: make the description blocking, and fill the counter.
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int flags = LibC.fcntl(errno, bell.fd(), LibC.F_GETFL, 0);
            assertTrue(flags >= 0);
            assertEquals(0, LibC.fcntl(errno, bell.fd(), LibC.F_SETFL, flags & ~LibC.O_NONBLOCK));
            MemorySegment value = arena.allocate(JAVA_LONG);
            value.set(JAVA_LONG, 0, 0xfffffffffffffffdL); // 1 + this: the largest count a write can leave
            assertEquals(8, LibC.write(errno, bell.fd(), value, 8));
            epoll.wait(0);
            // A write of one would block here for good; a ring returns, and still wakes the watcher.
            assertTimeoutPreemptively(Duration.ofSeconds(10), bell::ring, "the ring blocked");
            rang = true;
            assertEquals(1, epoll.wait(0), "the ring woke the watcher");
        } finally {
            if (rang) {
                bell.close(); // (a ring stuck in write(2) holds the lock close takes: the test fails instead of hanging)
            }
        }
    }

    @Test
    void adoptRefusesADescriptorThatIsNoEventFd() throws Exception {
        // A pipe or a socket as a doorbell blocks a ring once full, whatever its flags said when it came.
        MemFd memFd = MemFd.create("vsocket-test", 4096);
        int fd = FileDescriptors.duplicate(memFd.fd());
        memFd.close();
        NativeIoException e = assertThrows(NativeIoException.class, () -> EventFd.adopt(fd));
        assertTrue(e.getMessage().contains("no eventfd"), e.getMessage());

        try (EventFd own = EventFd.createDoorbell();
             EventFd adopted = EventFd.adopt(FileDescriptors.duplicate(own.fd()))) {
            assertTrue(EventFd.isEventFd(adopted.fd()), "an eventfd is adopted");
        }
    }
}
