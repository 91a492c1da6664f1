package io.vsocket.ffm;

import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.epoll_event;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

    /**
     * Every libc call is a word call (arguments and result as 64-bit integers, see Downcalls.wordCall): ints, sizes
     * and pointers reach the C function as its prototype says, an int result comes back with its sign, and a segment
     * the linker would refuse as an address argument is refused here too.
     */
    @Test
    void wordCallsPassIntsSizesAndPointersAsTheirPrototypesSayAndRefuseWhatTheLinkerWould() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment pair = arena.allocate(JAVA_INT, 2);
            assertEquals(0, LibC.socketpair(errno, LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, pair));
            int a = pair.getAtIndex(JAVA_INT, 0);
            int b = pair.getAtIndex(JAVA_INT, 1);
            try {
                MemorySegment out = arena.allocateFrom("word calls");
                assertEquals(out.byteSize(), LibC.write(errno, a, out, out.byteSize()));
                MemorySegment in = arena.allocate(64);
                assertEquals(out.byteSize(), LibC.recv(errno, b, in, in.byteSize(), LibC.MSG_DONTWAIT));
                assertEquals("word calls", in.getString(0));
                assertEquals(-1L, LibC.recv(errno, b, in, in.byteSize(), LibC.MSG_DONTWAIT));
                assertEquals(LibC.EAGAIN, Downcalls.errno(errno));

                assertThrows(IllegalArgumentException.class,
                        () -> LibC.write(errno, a, MemorySegment.ofArray(new byte[8]), 8));
                MemorySegment freed;
                try (Arena gone = Arena.ofConfined()) {
                    freed = gone.allocate(8);
                }
                assertThrows(IllegalStateException.class, () -> LibC.write(errno, a, freed, 8));
            } finally {
                assertEquals(0, LibC.close(errno, a));
                assertEquals(0, LibC.close(errno, b));
            }
            assertEquals(-1, LibC.close(errno, Integer.MIN_VALUE));
            assertEquals(LibC.EBADF, Downcalls.errno(errno));
        }
    }
}
