package io.vsocket.loop;

import java.util.Arrays;

/**
 * The loops of this process that spin without yielding right now (a loop-to-loop spin, or a fixed
 * one): a loop that would wait for another thread's answer ({@link HandBack}) asks before and now and
 * then during the wait, and gives the wait up when one does (it then blocks, or spins only its own
 * loop-to-loop window). Other processes' loops are not seen here; {@link FreeCores} sees their load.
 *
 * <p>Why: a waiting loop keeps its core from looking idle, so the thread it woke (a caller blocked
 * on a future, whose answer it waits for) is put on a core that is busy — and where that core's loop
 * spins without yielding (an HTTP server spinning for its client's next request), the woken thread
 * waits until that spin ends. Measured on 2 cores, Reactor Netty's HTTP GET and Lettuce's GET took
 * up to twice as long when the client's loop waited for the caller beside a spinning server loop;
 * gRPC on its executors, whose loops all block, gained. Each loop writes only its own flag, at the
 * start and end of a spin; only a loop about to wait reads the others'.
 */
final class SpinningLoops {
    private static final Object LOCK = new Object();
    private static volatile Slot[] slots = new Slot[0];

    private SpinningLoops() {
    }

    /** One loop's flag. */
    static final class Slot {
        /** Written by its loop only. */
        volatile boolean spinning;

        /** Takes the slot out: its loop has ended. Idempotent. */
        void close() {
            spinning = false;
            synchronized (LOCK) {
                Slot[] now = slots;
                for (int i = 0; i < now.length; i++) {
                    if (now[i] == this) {
                        Slot[] fewer = Arrays.copyOf(now, now.length - 1);
                        System.arraycopy(now, i + 1, fewer, i, now.length - i - 1);
                        slots = fewer;
                        return;
                    }
                }
            }
        }
    }

    /** A slot for a new loop. */
    static Slot register() {
        Slot slot = new Slot();
        synchronized (LOCK) {
            Slot[] now = slots;
            Slot[] more = Arrays.copyOf(now, now.length + 1);
            more[now.length] = slot;
            slots = more;
        }
        return slot;
    }

    /** Whether a loop other than {@code self}'s spins without yielding now. */
    static boolean othersSpin(Slot self) {
        for (Slot slot : slots) {
            if (slot != self && slot.spinning) {
                return true;
            }
        }
        return false;
    }
}
