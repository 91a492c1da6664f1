package io.vsocket.ffm.glue;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.NativeLibraryLoader;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcall handles into vsocket's glue library ({@code libvsocket_glue_<arch>.so}, shipped in the
 * vsocket-native-glue jar under {@code META-INF/native/}): the verbs that rdma-core only has as
 * {@code static inline} functions or macros, the batched poll, and the layout probe.
 *
 * <p>The post, poll and arm calls are linked as critical (no thread-state transition): they never block.
 * Loading this class loads the library, which needs {@code libibverbs.so.1}.
 */
public final class Glue {
    private Glue() {
    }

    private static final String LIBRARY = "libvsocket_glue";
    private static final SymbolLookup LOOKUP = NativeLibraryLoader.load("vsocket_glue", Glue.class.getClassLoader());

    /** The ABI version this Java code expects; the loaded glue must report the same. */
    public static final int ABI_VERSION = 2;

    /** The loaded glue library, for linking handles with other options (the benchmarks do). */
    public static SymbolLookup lookup() {
        return LOOKUP;
    }

    private static final MethodHandle VS_GLUE_ABI_VERSION = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_glue_abi_version", 0, false);

    /** The ABI version the glue was built with ({@code VS_GLUE_ABI_VERSION}). */
    public static int vs_glue_abi_version() {
        try {
            return (int) (long) VS_GLUE_ABI_VERSION.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POST_SEND = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_post_send", 3);

    /** {@code ibv_post_send}: returns 0 or an errno value; {@code *badWr} is the first request not posted. */
    public static int vs_post_send(MemorySegment qp, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) (long) VS_POST_SEND.invokeExact(Downcalls.address(qp), Downcalls.address(wr), Downcalls.address(badWr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(qp);
            Reference.reachabilityFence(wr);
            Reference.reachabilityFence(badWr);
        }
    }

    private static final MethodHandle VS_POST_RECV = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_post_recv", 3);

    /** {@code ibv_post_recv}: returns 0 or an errno value. */
    public static int vs_post_recv(MemorySegment qp, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) (long) VS_POST_RECV.invokeExact(Downcalls.address(qp), Downcalls.address(wr), Downcalls.address(badWr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(qp);
            Reference.reachabilityFence(wr);
            Reference.reachabilityFence(badWr);
        }
    }

    private static final MethodHandle VS_POST_SRQ_RECV = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_post_srq_recv", 3);

    /** {@code ibv_post_srq_recv}: returns 0 or an errno value. */
    public static int vs_post_srq_recv(MemorySegment srq, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) (long) VS_POST_SRQ_RECV.invokeExact(Downcalls.address(srq), Downcalls.address(wr), Downcalls.address(badWr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(srq);
            Reference.reachabilityFence(wr);
            Reference.reachabilityFence(badWr);
        }
    }

    private static final MethodHandle VS_POLL_CQ = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_poll_cq", 3);

    /** {@code ibv_poll_cq} into an array of {@code struct ibv_wc}: the count polled, or negative on failure. */
    public static int vs_poll_cq(MemorySegment cq, int numEntries, MemorySegment wc) {
        try {
            return (int) (long) VS_POLL_CQ.invokeExact(Downcalls.address(cq), (long) numEntries, Downcalls.address(wc));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(cq);
            Reference.reachabilityFence(wc);
        }
    }

    private static final MethodHandle VS_REQ_NOTIFY_CQ = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_req_notify_cq", 2);

    /** {@code ibv_req_notify_cq}: 0 or an errno value. */
    public static int vs_req_notify_cq(MemorySegment cq, int solicitedOnly) {
        try {
            return (int) (long) VS_REQ_NOTIFY_CQ.invokeExact(Downcalls.address(cq), (long) solicitedOnly);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(cq);
        }
    }

    private static final MethodHandle VS_QUERY_PORT = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_query_port", 3, true);

    /** {@code ibv_query_port} (a macro in the headers). */
    public static int vs_query_port(MemorySegment errno, MemorySegment context, byte portNum, MemorySegment portAttr) {
        try {
            return (int) (long) VS_QUERY_PORT.invokeExact(errno, Downcalls.address(context), (long) portNum, Downcalls.address(portAttr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
            Reference.reachabilityFence(portAttr);
        }
    }

    private static final MethodHandle VS_QUERY_GID_EX = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_query_gid_ex", 4, true);

    /** {@code ibv_query_gid_ex} with flags 0 (static inline in the headers). */
    public static int vs_query_gid_ex(MemorySegment errno, MemorySegment context, int portNum, int gidIndex, MemorySegment entry) {
        try {
            return (int) (long) VS_QUERY_GID_EX.invokeExact(errno, Downcalls.address(context), (long) portNum, (long) gidIndex, Downcalls.address(entry));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
            Reference.reachabilityFence(entry);
        }
    }

    private static final MethodHandle VS_REG_MR = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_reg_mr", 4, true);

    /** {@code ibv_reg_mr} (a macro in the headers): the {@code struct ibv_mr *}, or NULL with errno. */
    public static MemorySegment vs_reg_mr(MemorySegment errno, MemorySegment pd, MemorySegment addr, long length, int access) {
        try {
            return MemorySegment.ofAddress((long) VS_REG_MR.invokeExact(errno, Downcalls.address(pd), Downcalls.address(addr), length, (long) access));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
            Reference.reachabilityFence(addr);
        }
    }

    private static final MethodHandle VS_ALLOC_MW = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_alloc_mw", 2, true);

    /** {@code ibv_alloc_mw} (an inline in the headers): the {@code struct ibv_mw *}, or NULL with errno. */
    public static MemorySegment vs_alloc_mw(MemorySegment errno, MemorySegment pd, int type) {
        try {
            return MemorySegment.ofAddress((long) VS_ALLOC_MW.invokeExact(errno, Downcalls.address(pd), (long) type));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
        }
    }

    private static final MethodHandle VS_DEALLOC_MW = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_dealloc_mw", 1, true);

    /** {@code ibv_dealloc_mw} (an inline in the headers): 0, or an errno. */
    public static int vs_dealloc_mw(MemorySegment errno, MemorySegment mw) {
        try {
            return (int) (long) VS_DEALLOC_MW.invokeExact(errno, Downcalls.address(mw));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(mw);
        }
    }

    private static final MethodHandle VS_INC_RKEY = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_inc_rkey", 1);

    /** {@code ibv_inc_rkey}: the key a type 2 window gets at its next bind. */
    public static int vs_inc_rkey(int rkey) {
        try {
            return (int) (long) VS_INC_RKEY.invokeExact((long) rkey);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POLL_CQ_BATCH = Downcalls.criticalWordCall(LOOKUP, LIBRARY, "vs_poll_cq_batch", 3);

    /** Polls up to {@code maxEntries} completions into an array of {@link vs_completion}: the count, or negative on failure. */
    public static int vs_poll_cq_batch(MemorySegment cq, int maxEntries, MemorySegment out) {
        try {
            return (int) (long) VS_POLL_CQ_BATCH.invokeExact(Downcalls.address(cq), (long) maxEntries, Downcalls.address(out));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(cq);
            Reference.reachabilityFence(out);
        }
    }

    private static final MethodHandle VS_LAYOUT_PROBE = Downcalls.wordCall(LOOKUP, LIBRARY, "vs_layout_probe", 1, false);

    /** Stores the probe table (an array of {@link vs_layout_entry}) in {@code *entriesOut} and returns its length. */
    public static int vs_layout_probe(MemorySegment entriesOut) {
        try {
            return (int) (long) VS_LAYOUT_PROBE.invokeExact(Downcalls.address(entriesOut));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(entriesOut);
        }
    }

    // The benchmark's two calls, linked on their first use (a holder class each): every JVM that finds a device
    // loads this class, and vs_noop's descriptor is its own.
    private static final class Noop {
        static final MethodHandle HANDLE = Downcalls.downcall(LOOKUP, LIBRARY, "vs_noop", FunctionDescriptor.ofVoid());
    }

    private static final class Add {
        static final MethodHandle HANDLE = Downcalls.downcall(LOOKUP, LIBRARY, "vs_add",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG));
    }

    /** Does nothing: the bare cost of a downcall, for the benchmark. */
    public static void vs_noop() {
        try {
            Noop.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** Returns {@code a + b}: a downcall with arguments and a result, for the benchmark. */
    public static long vs_add(long a, long b) {
        try {
            return (long) Add.HANDLE.invokeExact(a, b);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
