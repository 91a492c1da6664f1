package io.vsocket.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

/**
 * Builds downcall handles and reads the {@code errno} that a call left behind.
 *
 * <p>Calls that report failure through {@code errno} are linked with
 * {@link Linker.Option#captureCallState(String...)}: their handle takes one extra leading
 * {@link MemorySegment} of {@link #ERRNO_STATE_LAYOUT} into which the JVM copies {@code errno} right
 * after the call, before anything else can overwrite it.
 */
public final class Downcalls {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /**
     * The descriptors of word calls ({@link #wordCall}), by arity: every argument and the result a {@code long}. The
     * JDK generates a stub class for each distinct descriptor it links — 7 to 12 ms in a fresh JVM, on this project's
     * machines — and hands every later handle of an equal descriptor (and options) the same stub, in about 0.1 ms.
     */
    private static final FunctionDescriptor[] WORDS = new FunctionDescriptor[7];

    static {
        for (int arity = 0; arity < WORDS.length; arity++) {
            MemoryLayout[] arguments = new MemoryLayout[arity];
            java.util.Arrays.fill(arguments, ValueLayout.JAVA_LONG);
            WORDS[arity] = FunctionDescriptor.of(ValueLayout.JAVA_LONG, arguments);
        }
    }

    /** The layout of the segment that receives the captured {@code errno}. */
    public static final StructLayout ERRNO_STATE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = ERRNO_STATE_LAYOUT.varHandle(groupElement("errno"));

    private Downcalls() {
    }

    /** A handle for {@code name}, or an {@link UnsatisfiedLinkError} naming the symbol and library. */
    public static MethodHandle downcall(SymbolLookup lookup, String library, String name,
                                        FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = lookup.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                "symbol " + name + " not found in " + library));
        try {
            return LINKER.downcallHandle(symbol, descriptor, options);
        } catch (IllegalCallerException e) {
            throw nativeAccessRefused(e);
        }
    }

    /**
     * The JVM refused these bindings native access ({@code --illegal-native-access=deny}, the default
     * of JDKs to come): the same refusal, saying which flag lets vsocket work — the first thing a user
     * sees, usually as the cause of the first vsocket class's failed initialisation.
     */
    public static IllegalCallerException nativeAccessRefused(IllegalCallerException refusal) {
        Module module = Downcalls.class.getModule();
        String name = module.isNamed() ? module.getName() : "ALL-UNNAMED";
        return new IllegalCallerException("vsocket calls the C library through the FFM API, and this JVM refuses "
                + "it native access: start the JVM with --enable-native-access=" + name + " (" + refusal.getMessage()
                + ")", refusal);
    }

    /** Like {@link #downcall}, with {@code errno} captured into a leading state segment. */
    public static MethodHandle downcallCapturingErrno(SymbolLookup lookup, String library, String name,
                                                      FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
        all[options.length] = CAPTURE_ERRNO;
        return downcall(lookup, library, name, descriptor, all);
    }

    /**
     * A handle for {@code name} linked as a <em>word call</em>: each of its {@code arity} arguments (at most 6) and its
     * result a 64-bit integer — pointers as their addresses ({@link #address}), {@code int}s widened, an {@code int}
     * result in the low half of the {@code long} (the caller casts it back) — with {@code errno} captured into a
     * leading state segment when {@code captureErrno}.
     *
     * <p>Why: a fresh JVM links every distinct descriptor with a stub class of its own, and the calls a first
     * connection makes had some twenty of them, most of its time beyond epoll's (the README's "A fresh JVM's
     * first connection"); as word calls they share seven. Sound on the ABIs vsocket runs on (x86-64 System V,
     * AArch64): the first six integer and pointer arguments travel in 64-bit registers whatever their C type, a
     * callee reads an {@code int} parameter from the register's low half, and an {@code int} result is the low half
     * of the result register. Not for variadic functions, floating-point values or structs passed by value.
     */
    public static MethodHandle wordCall(SymbolLookup lookup, String library, String name, int arity,
                                        boolean captureErrno) {
        return captureErrno ? downcallCapturingErrno(lookup, library, name, WORDS[arity])
                : downcall(lookup, library, name, WORDS[arity]);
    }

    /**
     * A word call ({@link #wordCall}, without {@code errno}) linked as {@link #criticalDowncall critical}: for a short,
     * non-blocking call on the hot path. Critical word calls share stubs among themselves, by arity.
     */
    public static MethodHandle criticalWordCall(SymbolLookup lookup, String library, String name, int arity) {
        return criticalDowncall(lookup, library, name, WORDS[arity]);
    }

    /**
     * The address a word call ({@link #wordCall}) passes for {@code segment}, refused as the linker refuses an
     * address argument: a heap segment, or one whose memory is freed (its arena closed). The caller keeps the
     * segment reachable until the call returns ({@link java.lang.ref.Reference#reachabilityFence}), so that an
     * automatic arena's memory is not freed under the call. Unlike an address argument, the call does not hold
     * the segment's arena (nor check its owner thread): a shared arena closed by another thread during the call
     * is not refused. vsocket's memory is closed only once no call can use it (a link's, after its loop let go:
     * {@code SharedArenaCloser}); its data path passed bare addresses before too.
     */
    public static long address(MemorySegment segment) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("a heap segment passed to a native call: " + segment);
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException("Already closed: a segment whose memory was freed passed to a native call");
        }
        return segment.address();
    }

    /**
     * A handle for a short, non-blocking call on the hot path (post, poll, arm): linked as
     * {@link Linker.Option#critical(boolean) critical}, which skips the thread-state transition.
     * Never use it for a call that can block.
     */
    public static MethodHandle criticalDowncall(SymbolLookup lookup, String library, String name,
                                                FunctionDescriptor descriptor) {
        return downcall(lookup, library, name, descriptor, Linker.Option.critical(false));
    }

    private static final ThreadLocal<MemorySegment> THREAD_ERRNO_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(ERRNO_STATE_LAYOUT));

    /**
     * This thread's own {@code errno} state segment, for calls made from whichever thread happens
     * to make them (socket options, say). Read it right after the call, before the next one.
     */
    public static MemorySegment threadErrnoState() {
        return THREAD_ERRNO_STATE.get();
    }

    /** A new {@code errno} state segment. */
    public static MemorySegment newErrnoState(Arena arena) {
        return arena.allocate(ERRNO_STATE_LAYOUT);
    }

    /** The {@code errno} captured into {@code state} by the last call that used it. */
    public static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /**
     * Rethrows what {@code invokeExact} threw. A downcall declares {@code Throwable} but only ever
     * throws unchecked exceptions and errors.
     */
    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new AssertionError("unexpected checked exception from a downcall", t);
    }
}
