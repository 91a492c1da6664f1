package io.vsocket.unix;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** memfd + mmap: two descriptors for one file, two mappings of the same pages, owners that close once. */
class MemFdTest {
    private static final long SIZE = 3 * 4096 + 123; // not a page multiple: the tail page is mapped too

    private static void writePattern(MemorySegment s) {
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(JAVA_BYTE, i, (byte) (i * 31 + 7));
        }
    }

    private static void assertPattern(MemorySegment s) {
        for (long i = 0; i < s.byteSize(); i++) {
            if (s.get(JAVA_BYTE, i) != (byte) (i * 31 + 7)) {
                throw new AssertionError("byte " + i + " differs");
            }
        }
    }

    @Test
    void aSecondDescriptorMapsTheSamePages() throws Exception {
        MemFd created = MemFd.create("vsocket-test", SIZE);
        MappedRegion first = created.map();
        assertEquals(SIZE, created.size());
        assertEquals(SIZE, first.size());
        assertEquals(SIZE, first.segment().byteSize(), "the segment is exactly the mapped size");
        assertEquals(0, first.segment().address() % 4096, "mmap returns a page-aligned address");
        assertTrue(FileDescriptors.isCloseOnExec(created.fd()), "MFD_CLOEXEC");
        writePattern(first.segment());

        MemFd adopted = MemFd.adopt(FileDescriptors.duplicate(created.fd()));
        MappedRegion second = adopted.map();
        try {
            assertEquals(SIZE, adopted.size(), "lseek(SEEK_END) finds the size set by ftruncate");
            assertEquals(SIZE, second.segment().byteSize());
            assertTrue(first.segment().address() != second.segment().address(), "two distinct mappings");
            assertPattern(second.segment());

            second.segment().set(JAVA_LONG, 64, 0x1122_3344_5566_7788L);
            assertEquals(0x1122_3344_5566_7788L, first.segment().get(JAVA_LONG, 64), "and back the other way");

            // A mapping outlives the descriptor it came from; another thread can use it.
            created.close();
            Thread other = new Thread(() -> first.segment().set(JAVA_BYTE, 5, (byte) 42));
            other.start();
            other.join();
            assertEquals(42, second.segment().get(JAVA_BYTE, 5));
        } finally {
            first.close();
            second.close();
            adopted.close();
        }
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseThrows() throws Exception {
        MemFd memfd = MemFd.create("vsocket-test-close", 4096);
        MappedRegion region = memfd.map();
        MemorySegment stale = region.segment();
        stale.set(JAVA_BYTE, 0, (byte) 1);

        region.close();
        region.close();
        assertFalse(region.isOpen());
        assertThrows(IllegalStateException.class, region::segment);
        assertThrows(IllegalStateException.class, () -> stale.get(JAVA_BYTE, 0),
                "a segment handed out earlier is dead, not a dangling pointer");
        assertEquals(4096, region.size());

        memfd.close();
        memfd.close();
        assertFalse(memfd.isOpen());
        assertThrows(IllegalStateException.class, memfd::fd);
        assertThrows(IllegalStateException.class, memfd::map);
    }

    @Test
    void badArgumentsAndBadDescriptors() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> MemFd.create("empty", 0));
        assertThrows(IllegalArgumentException.class, () -> MemFd.adopt(-1));
        try (NativeSocket socket = NativeSocket.newStreamSocket()) {
            int dup = FileDescriptors.duplicate(socket.fd());
            NativeIoException e = assertThrows(NativeIoException.class, () -> MemFd.adopt(dup),
                    "a socket cannot seek");
            assertTrue(e.call().startsWith("lseek"), e.getMessage());
        }
    }
}
