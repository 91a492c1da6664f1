package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one Java owner of one native verbs object. {@link #close()} releases it exactly once: a
 * second close does nothing, and every other use after close throws {@link IllegalStateException}
 * naming the object, so a stale handle never reaches libibverbs.
 *
 * <p>If the release call itself fails (a protection domain that still has memory regions gets
 * {@code EBUSY}), close throws {@link VerbsException} and the object stays open, so the caller can
 * release its dependants and close again.
 *
 * <p>Owners are meant for one thread (the event loop that made them); only close is synchronized.
 * The process's open objects are counted by kind ({@link #openCount}): the device reports some kinds
 * (queue pairs, regions) but not others (memory windows, address handles), and leak checks want all.
 */
public abstract class VerbsResource implements AutoCloseable {
    private static final ClassValue<AtomicInteger> OPEN = new ClassValue<>() {
        @Override
        protected AtomicInteger computeValue(Class<?> kind) {
            return new AtomicInteger();
        }
    };

    private final MemorySegment handle;
    private boolean closed;

    VerbsResource(MemorySegment handle) {
        this.handle = handle;
        OPEN.get(getClass()).incrementAndGet();
    }

    /** How many objects of {@code kind} this process holds open now (made and not yet closed). */
    public static int openCount(Class<? extends VerbsResource> kind) {
        return OPEN.get(kind).get();
    }

    /** The native pointer, for calls into the bindings. Throws once closed. */
    public final MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
        return handle;
    }

    public final boolean isOpen() {
        return !closed;
    }

    /** Releases the native object; idempotent. */
    @Override
    public final synchronized void close() throws VerbsException {
        if (closed) {
            return;
        }
        release(handle);
        closed = true;
        OPEN.get(getClass()).decrementAndGet();
        afterClose();
    }

    /** Makes the one release call for {@code handle}. */
    abstract void release(MemorySegment handle) throws VerbsException;

    /** Makes {@code destroy}, a verbs call that returns 0 or an errno, and throws when it fails. */
    static void destroy(String call, MemorySegment handle, DestroyCall destroy) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            VerbsException.check(call, destroy.call(errno, handle), errno);
        }
    }

    /** A binding of the shape {@code int ibv_destroy_x(errnoState, handle)}. */
    @FunctionalInterface
    interface DestroyCall {
        int call(MemorySegment errnoState, MemorySegment handle);
    }

    /** Frees Java-side state once the native object is gone. */
    void afterClose() {
    }
}
