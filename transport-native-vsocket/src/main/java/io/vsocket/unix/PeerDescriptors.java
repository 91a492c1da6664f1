package io.vsocket.unix;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Closes descriptors that another process passed to this one ({@code SCM_RIGHTS}) and that this
 * process does not keep: refused at a rendezvous, or passed where none belong (through a doorbell).
 *
 * <p>Why not a plain {@code close(2)} on the thread that has them: closing the last reference to a
 * file runs its release there, and the peer chose the file. A TCP socket it set to linger, with bytes
 * its far end never reads, holds a close for as long as the linger says (a probe: more than the 8 s
 * it waited); a Unix socket with such descriptors queued in it releases those in turn. On an event
 * loop that is every connection of the loop frozen. So only files whose release cannot wait (a memfd,
 * an eventfd, a pipe: what {@code /proc/self/fd} names them) are closed at once; every other one is
 * closed on a thread of its own, in order — a file that holds it there holds up only descriptors of the
 * same kind, which no well-behaved peer passes.
 */
public final class PeerDescriptors {
    private static final LinkedBlockingQueue<Integer> pending = new LinkedBlockingQueue<>();
    private static Thread closer;
    private static final AtomicLong handedOver = new AtomicLong();
    private static final AtomicLong closed = new AtomicLong();

    private PeerDescriptors() {
    }

    /** Takes {@code fds}, which nobody else owns, and closes them, on another thread where a close could wait. */
    public static void close(int... fds) {
        for (int fd : fds) {
            if (fd < 0) {
                continue;
            }
            if (closesAtOnce(fd)) {
                FileDescriptors.closeQuietly(fd);
            } else {
                handedOver.incrementAndGet();
                pending.add(fd);
                startCloser();
            }
        }
    }

    /** Whether {@code fd} is a file whose last close releases at once: a memfd, an eventfd, a pipe. */
    static boolean closesAtOnce(int fd) {
        String target;
        try {
            target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return target.startsWith("/memfd:") || target.equals("anon_inode:[eventfd]") || target.startsWith("pipe:[");
    }

    private static synchronized void startCloser() {
        if (closer != null) {
            return;
        }
        Thread t = new Thread(PeerDescriptors::closeForever, "vsocket-peer-descriptors");
        t.setDaemon(true);
        t.start();
        closer = t;
    }

    private static void closeForever() {
        while (true) {
            int fd;
            try {
                fd = pending.take();
            } catch (InterruptedException e) {
                // Nobody interrupts this thread on purpose; carry on, the descriptors must still go.
                continue;
            }
            FileDescriptors.closeQuietly(fd);
            closed.incrementAndGet();
        }
    }

    /**
     * Waits up to {@code timeoutMillis} until every descriptor handed to the closing thread so far is
     * closed; false if one still is not (a close that waits). For tests that count descriptors.
     */
    public static boolean settle(long timeoutMillis) throws InterruptedException {
        long target = handedOver.get();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (closed.get() < target) {
            if (System.nanoTime() - deadline >= 0) {
                return false;
            }
            Thread.sleep(1);
        }
        return true;
    }
}
