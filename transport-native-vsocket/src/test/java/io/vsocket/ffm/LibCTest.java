package io.vsocket.ffm;

import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.epoll_event;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The libc bindings against the real kernel: eventfd wakes epoll, errno is captured. */
class LibCTest {

    @Test
    void eventfdWakesEpollAndCarriesItsCounter() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            int ep = LibC.epoll_create1(errno, LibC.EPOLL_CLOEXEC);
            int efd = LibC.eventfd(errno, 0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
            assertTrue(ep >= 0 && efd >= 0, "epoll " + ep + ", eventfd " + efd);
            try {
                MemorySegment event = epoll_event.allocate(arena);
                epoll_event.events(event, LibC.EPOLLIN);
                epoll_event.data(event, 0xC0FFEE_0000_0001L);
                assertEquals(0, LibC.epoll_ctl(errno, ep, LibC.EPOLL_CTL_ADD, efd, event));

                MemorySegment ready = arena.allocate(epoll_event.LAYOUT, 4);
                assertEquals(0, LibC.epoll_wait(errno, ep, ready, 4, 0), "nothing is ready yet");

                MemorySegment value = arena.allocate(JAVA_LONG);
                value.set(JAVA_LONG, 0, 3);
                assertEquals(8, LibC.write(errno, efd, value, 8));
                assertEquals(1, LibC.epoll_wait(errno, ep, ready, 4, 1000));
                assertEquals(0xC0FFEE_0000_0001L, epoll_event.data(ready), "the data word comes back intact");
                assertTrue((epoll_event.events(ready) & LibC.EPOLLIN) != 0);

                value.set(JAVA_LONG, 0, 0);
                assertEquals(8, LibC.read(errno, efd, value, 8));
                assertEquals(3, value.get(JAVA_LONG, 0));
                assertEquals(-1, LibC.read(errno, efd, value, 8), "drained, non-blocking");
                assertEquals(LibC.EAGAIN, Downcalls.errno(errno));
            } finally {
                assertEquals(0, LibC.close(errno, efd));
                assertEquals(0, LibC.close(errno, ep));
            }
        }
    }

    @Test
    void errnoIsCapturedAndNamed() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            assertEquals(-1, LibC.close(errno, -1));
            assertEquals(LibC.EBADF, Downcalls.errno(errno));
            assertEquals("Bad file descriptor", LibC.strerror(LibC.EBADF));
        }
    }
}
