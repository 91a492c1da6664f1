package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One end of the doorbell between the two processes of an shm link: a connected Unix stream socket,
 * the connection the client sent the link's memory on (its own connected socket on the client's side,
 * the one the server accepted on the server's). {@link #ring()} sends a byte to the other end, which
 * wakes that end's edge-triggered watcher (each byte that arrives is an event of its own, read or
 * not); the watcher {@link #answer()}s each wake-up, which reads the rings back now and then.
 *
 * <p>Why a socket and not an eventfd, which is lighter: whatever the peer's process does, a ring must
 * return at once. An eventfd shared with the peer is one file, its counter and its {@code O_NONBLOCK}
 * flag the peer's to set too, and a write to it blocks once the counter is full on a description the
 * peer made blocking — a loop that rang it froze for good. A ring that adds zero survives a counter
 * filled by writes, but not one the kernel itself fills to the very top (the completion of the peer's
 * kernel AIO aimed at the eventfd), and no per-call non-blocking write exists for an eventfd. Here each
 * end is its own file, and every send says {@code MSG_DONTWAIT}, which no flag of the peer's can undo: a
 * peer that stops reading its end only has its own rings turned away ({@code EAGAIN}: the wake-ups it
 * loses are its own), and one that closed it has them fail with {@code EPIPE} (no signal:
 * {@code MSG_NOSIGNAL}).
 *
 * <p>Why the set-up's connection and not a socket pair one side makes: each process reads only a
 * socket no other process ever held. A read of a Unix socket takes that socket's lock for reading,
 * even without waiting, and a process that holds the same socket could keep that lock taken — by
 * reading into memory whose page fault it never lets finish (a {@code userfaultfd} range, a file on a
 * FUSE mount it serves) — and so hold up the read-back, and the loop with it. The maker of a pair could
 * keep a copy of the end it passed; no process gets a copy of a socket another one accepted or
 * connected. A send takes no lock of the receiving end's reader.
 */
public final class Doorbell implements AutoCloseable {
    /** Bytes read back per {@code recv}: a well-behaved peer rings a few times per wake-up at most. */
    private static final int DRAIN_CHUNK = 256;
    /**
     * {@code recv}s per {@link #drain()} at most: a peer that floods its end costs the loop no more per
     * wake-up than one that rings (each byte that arrives wakes the watcher again anyway).
     */
    private static final int DRAIN_ROUNDS = 8;
    /**
     * Wake-ups {@link #answer() answered} per read-back. The other end's default send buffer holds 278
     * one-byte rings before its sends fail (measured on Linux 6.18), and a ring it loses that way would wake
     * nobody: the watcher is edge-triggered, and what it left unread was reported already. A
     * well-behaved peer rings at most about four times per wake-up (once per flag this side set before
     * it slept, and a link has two; a set-up's signal), so 16 at most between read-backs: room to spare
     * for a send buffer a twelfth of the default. A read-back is a system call the wake-up does not
     * otherwise pay.
     */
    static final int ANSWERS_PER_DRAIN = 4;

    private final int fd;
    /**
     * Automatic, never closed by hand: a thread may be inside {@link #ring()} with these segments when
     * the owner closes the doorbell; freeing them then would fail the close.
     */
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment ringByte;
    /** A {@code recvmsg} into a {@link #DRAIN_CHUNK} buffer, with room for any descriptors the peer passes. */
    private final MemorySegment drainMessage;
    private final MemorySegment errno;
    private final MemorySegment ringErrno;
    private volatile boolean closed;
    /** Wake-ups answered since the last read-back (owner thread). */
    private int unanswered;
    /** A read-back found the other end closed (its owner closed it, or its process ended). */
    private boolean otherEndClosed;

    private Doorbell(int fd) {
        this.fd = fd;
        this.ringByte = arena.allocate(1);
        this.drainMessage = UnixSocket.receiveMessage(arena, arena.allocate(DRAIN_CHUNK));
        this.errno = Downcalls.newErrnoState(arena);
        this.ringErrno = Downcalls.newErrnoState(arena);
    }

    /** Two connected ends in this process: both sides of a link here (tests, benchmarks). */
    public record Pair(Doorbell first, Doorbell second) {
    }

    /** A new pair of connected ends, both close-on-exec and non-blocking. */
    public static Pair pair() throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            if (LibC.socketpair(errno, LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK, 0,
                    fds) != 0) {
                throw new NativeIoException("socketpair(AF_UNIX, SOCK_STREAM) for a doorbell", Downcalls.errno(errno));
            }
            return new Pair(new Doorbell(fds.getAtIndex(JAVA_INT, 0)), new Doorbell(fds.getAtIndex(JAVA_INT, 1)));
        }
    }

    /**
     * Takes ownership of {@code fd} as a doorbell's end: refused (and closed, as a peer's descriptor) when
     * it is no Unix stream socket — an eventfd, a pipe or a file could block a ring or take its bytes
     * somewhere else. Its flags are left as they came: they cannot make a ring or a drain wait.
     */
    public static Doorbell adopt(int fd) throws NativeIoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment value = arena.allocate(JAVA_INT);
            MemorySegment length = arena.allocate(JAVA_INT);
            int[] wanted = {LibC.SO_DOMAIN, LibC.AF_UNIX, LibC.SO_TYPE, LibC.SOCK_STREAM};
            for (int i = 0; i < wanted.length; i += 2) {
                length.set(JAVA_INT, 0, Integer.BYTES);
                if (LibC.getsockopt(errno, fd, LibC.SOL_SOCKET, wanted[i], value, length) != 0
                        || value.get(JAVA_INT, 0) != wanted[i + 1]) {
                    PeerDescriptors.close(fd);
                    throw new NativeIoException("a received doorbell that is no Unix stream socket", LibC.EINVAL);
                }
            }
        }
        return new Doorbell(fd);
    }

    public int fd() {
        return fd;
    }

    /**
     * Wakes whoever watches the other end: one byte, sent without ever blocking. A ring that cannot be
     * sent is dropped: the other end holds so many unread rings that its owner is not reading them back
     * (a well-behaved one does, {@link #ANSWERS_PER_DRAIN}), or it is closed. Safe from any thread.
     */
    public void ring() {
        // Under the lock, and never after close: once closed, the number may belong to another file.
        synchronized (this) {
            if (!closed) {
                long n;
                do {
                    n = LibC.send(ringErrno, fd, ringByte, 1, LibC.MSG_DONTWAIT | LibC.MSG_NOSIGNAL);
                } while (n < 0 && Downcalls.errno(ringErrno) == LibC.EINTR);
            }
        }
    }

    /**
     * Called on each wake-up by this end: reads the rings back every {@link #ANSWERS_PER_DRAIN}th time,
     * so that they never fill the socket and turn the peer's next ring away. False when the peer passed
     * descriptors through the doorbell, which no well-behaved peer does (they are
     * {@linkplain PeerDescriptors closed} off this thread). Owner thread only.
     */
    public boolean answer() {
        if (++unanswered >= ANSWERS_PER_DRAIN) {
            unanswered = 0;
            return drain();
        }
        return true;
    }

    /**
     * Reads back the rings that arrived (a bounded share of a flood), without blocking; false when
     * descriptors came with them (see {@link #answer()}). Owner thread only.
     */
    public synchronized boolean drain() {
        return readBack(false);
    }

    /**
     * Whether the other end is closed — by its owner, or by the kernel when its process ended — which a
     * read-back finds once the rings queued before it are read (a bounded share of a flood: a peer that
     * floods its end is taken for open). False once this end is closed. Owner thread only.
     */
    public synchronized boolean otherEndClosed() {
        if (!closed && !otherEndClosed) {
            readBack(true);
        }
        return !closed && otherEndClosed;
    }

    /**
     * {@link #drain()}; {@code toTheEnd}: on past a short read, until a read finds nothing (the rings read
     * so far were all) or the end (a short read may also stop at a message that carries descriptors).
     */
    private boolean readBack(boolean toTheEnd) {
        boolean clean = true;
        for (int i = 0; i < DRAIN_ROUNDS && !closed; i++) {
            long n = LibC.recvmsg(errno, fd, drainMessage, LibC.MSG_DONTWAIT | LibC.MSG_CMSG_CLOEXEC);
            if (n >= 0) {
                // Taken, never left to the kernel: it would close them on this thread (see PeerDescriptors).
                // (And the message's room for them is set again for the next call.)
                int[] passed = UnixSocket.receivedFds(drainMessage);
                if (passed.length > 0) {
                    PeerDescriptors.close(passed);
                    clean = false;
                }
            }
            if (n == 0) {
                otherEndClosed = true; // (0 bytes is the end: a stream socket carries no empty message)
                break;
            }
            if (n < 0 || n < DRAIN_CHUNK && !toTheEnd) {
                break; // all of them (or none: EAGAIN)
            }
        }
        return clean;
    }

    /**
     * Closes this end, which only this process holds, first reading out anything the peer left in it
     * (descriptors it passed would otherwise be released by the close, on this thread: see {@link
     * UnixSocket#close()}). Shut for reading first, so that nothing more can come. A doorbell is a
     * connected socket, never a listening one, so the close skips {@link UnixSocket#close()}'s look for
     * pending connections, and reads back into the doorbell's own buffer: every link's close runs this on
     * its loop, and each system call here is a few microseconds of the time the close takes to reach the
     * peer (interpreted, before the JIT has compiled the close path, many more).
     */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            UnixSocket.shutAndEmpty(errno, fd, drainMessage);
            LibC.close(errno, fd);
        }
    }
}
