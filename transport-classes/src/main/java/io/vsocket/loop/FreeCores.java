package io.vsocket.loop;

import org.agrona.CloseHelper;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Whether the host has a core to spare for a loop that would spin, from the kernel's count of
 * runnable threads (the fourth field of {@code /proc/loadavg}, {@code runnable/total}), read at most
 * every {@link #SAMPLE_NANOS} per loop.
 *
 * <p>Why: a spinning loop holds its core. When every core is taken, a thread woken meanwhile (the
 * peer loop the spinner just wrote to, an application thread) may be queued behind the spinner and
 * run only when the spin ends: measured here with other processes busy, a shm round trip took as long
 * as the spin (59 µs against NIO's 8), where blocking at once would have let the woken thread run.
 * With more runnable threads than cores (and {@link #SLACK}) a spin can only delay someone, so the
 * adaptive policy does not spin then; a fixed spin (an explicit choice) is left alone. One per loop,
 * owned by its handler (its file handle and read buffer), closed when the loop ends.
 */
final class FreeCores implements AutoCloseable {
    /** How long a sample holds: contention that lasts less than this is not worth a look. */
    static final long SAMPLE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    /**
     * Runnable threads beyond one per core that a spin still tolerates ({@code
     * -Dio.vsocket.freeCoresSlack}, default 1): a thread that runs for a moment (a JIT compiler, a
     * kernel worker) must not end two loops' spin — measured on 2 cores: with no slack the quiet
     * loop-to-loop round trip went from 1.0 µs to 4.5 (the loops fell back to blocking); with one,
     * 1.0 quiet and 5.1 µs (not 58) beside two busy processes.
     */
    private static final int SLACK = Math.max(0, Integer.getInteger("io.vsocket.freeCoresSlack", 1));
    /** {@code -Dio.vsocket.spinWhenCoresBusy=true}: spin as if a core were always spare (the policy before this rule). */
    private static final boolean IGNORED = Boolean.getBoolean("io.vsocket.spinWhenCoresBusy");
    private static final Path LOADAVG = Path.of("/proc/loadavg");

    private final ByteBuffer line = ByteBuffer.allocate(128);
    /**
     * This loop's own handle on the file, or null: always spare. Not a {@code FileChannel}: a read
     * on an interrupted thread closes a channel for good (and a shared one for every loop), so the
     * rule would go silently off; a {@code RandomAccessFile}'s read ignores interrupts.
     */
    private final RandomAccessFile loadavg;
    private long sampledAt;
    private boolean spare = true;
    private boolean sampledOnce;

    /**
     * The host's count; where it cannot be read (not Linux, or hidden), or with {@code
     * -Dio.vsocket.spinWhenCoresBusy=true}, always a core to spare.
     */
    FreeCores() {
        this(IGNORED ? null : LOADAVG);
    }

    /** The count in {@code file} (a test's stand-in for the host's), or always spare for null. */
    FreeCores(Path file) {
        this.loadavg = file == null ? null : open(file);
    }

    private static RandomAccessFile open(Path file) {
        try {
            return new RandomAccessFile(file.toFile(), "r");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    /**
     * Whether no more threads are runnable than there are cores, {@link #SLACK} aside (or it cannot
     * be told), as of a sample at most {@link #SAMPLE_NANOS} old.
     */
    boolean spare(long now) {
        if (loadavg == null) {
            return true;
        }
        if (!sampledOnce || now - sampledAt >= SAMPLE_NANOS) {
            sampledOnce = true;
            sampledAt = now;
            int runnable = runnable();
            // The loop asking is one of them: it spins on its own core if no more than one per core runs.
            spare = runnable < 0 || runnable <= CORES + SLACK;
        }
        return spare;
    }

    /** Runnable threads now, or -1 when the file cannot be read or parsed. */
    int runnable() {
        if (loadavg == null) {
            return -1;
        }
        try {
            loadavg.seek(0);
            int length = loadavg.read(line.array());
            return length <= 0 ? -1 : parse(line, length);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Lets the file go (the loop's end). */
    @Override
    public void close() {
        CloseHelper.quietClose(loadavg);
    }

    /** The runnable count of a {@code /proc/loadavg} line ("0.52 0.58 0.59 3/467 12345"), or -1. */
    static int parse(ByteBuffer line, int length) {
        int field = 0;
        int i = 0;
        while (i < length && field < 3) {
            if (line.get(i++) == ' ') {
                field++;
            }
        }
        int value = 0;
        int digits = 0;
        while (i < length) {
            byte b = line.get(i++);
            if (b == '/') {
                return digits > 0 ? value : -1;
            }
            if (b < '0' || b > '9' || ++digits > 9) {
                return -1;
            }
            value = value * 10 + (b - '0');
        }
        return -1;
    }
}
