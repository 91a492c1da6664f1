package io.vsocket.ffm.glue;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.NativeLibraryLoader;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
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

    private static final MethodHandle VS_GLUE_ABI_VERSION = Downcalls.downcall(LOOKUP, LIBRARY, "vs_glue_abi_version",
            FunctionDescriptor.of(JAVA_INT));

    /** The ABI version the glue was built with ({@code VS_GLUE_ABI_VERSION}). */
    public static int vs_glue_abi_version() {
        try {
            return (int) VS_GLUE_ABI_VERSION.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POST_SEND = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_post_send",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));

    /** {@code ibv_post_send}: returns 0 or an errno value; {@code *badWr} is the first request not posted. */
    public static int vs_post_send(MemorySegment qp, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) VS_POST_SEND.invokeExact(qp, wr, badWr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POST_RECV = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_post_recv",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));

    /** {@code ibv_post_recv}: returns 0 or an errno value. */
    public static int vs_post_recv(MemorySegment qp, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) VS_POST_RECV.invokeExact(qp, wr, badWr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POST_SRQ_RECV = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_post_srq_recv",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));

    /** {@code ibv_post_srq_recv}: returns 0 or an errno value. */
    public static int vs_post_srq_recv(MemorySegment srq, MemorySegment wr, MemorySegment badWr) {
        try {
            return (int) VS_POST_SRQ_RECV.invokeExact(srq, wr, badWr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POLL_CQ = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_poll_cq",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));

    /** {@code ibv_poll_cq} into an array of {@code struct ibv_wc}: the count polled, or negative on failure. */
    public static int vs_poll_cq(MemorySegment cq, int numEntries, MemorySegment wc) {
        try {
            return (int) VS_POLL_CQ.invokeExact(cq, numEntries, wc);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_REQ_NOTIFY_CQ = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_req_notify_cq",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));

    /** {@code ibv_req_notify_cq}: 0 or an errno value. */
    public static int vs_req_notify_cq(MemorySegment cq, int solicitedOnly) {
        try {
            return (int) VS_REQ_NOTIFY_CQ.invokeExact(cq, solicitedOnly);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_QUERY_PORT = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY, "vs_query_port",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_BYTE, ADDRESS));

    /** {@code ibv_query_port} (a macro in the headers). */
    public static int vs_query_port(MemorySegment errno, MemorySegment context, byte portNum, MemorySegment portAttr) {
        try {
            return (int) VS_QUERY_PORT.invokeExact(errno, context, portNum, portAttr);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_QUERY_GID_EX = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY, "vs_query_gid_ex",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));

    /** {@code ibv_query_gid_ex} with flags 0 (static inline in the headers). */
    public static int vs_query_gid_ex(MemorySegment errno, MemorySegment context, int portNum, int gidIndex, MemorySegment entry) {
        try {
            return (int) VS_QUERY_GID_EX.invokeExact(errno, context, portNum, gidIndex, entry);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_REG_MR = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY, "vs_reg_mr",
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));

    /** {@code ibv_reg_mr} (a macro in the headers): the {@code struct ibv_mr *}, or NULL with errno. */
    public static MemorySegment vs_reg_mr(MemorySegment errno, MemorySegment pd, MemorySegment addr, long length, int access) {
        try {
            return (MemorySegment) VS_REG_MR.invokeExact(errno, pd, addr, length, access);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_ALLOC_MW = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY, "vs_alloc_mw",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));

    /** {@code ibv_alloc_mw} (an inline in the headers): the {@code struct ibv_mw *}, or NULL with errno. */
    public static MemorySegment vs_alloc_mw(MemorySegment errno, MemorySegment pd, int type) {
        try {
            return (MemorySegment) VS_ALLOC_MW.invokeExact(errno, pd, type);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_DEALLOC_MW = Downcalls.downcallCapturingErrno(LOOKUP, LIBRARY, "vs_dealloc_mw",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** {@code ibv_dealloc_mw} (an inline in the headers): 0, or an errno. */
    public static int vs_dealloc_mw(MemorySegment errno, MemorySegment mw) {
        try {
            return (int) VS_DEALLOC_MW.invokeExact(errno, mw);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_INC_RKEY = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_inc_rkey",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    /** {@code ibv_inc_rkey}: the key a type 2 window gets at its next bind. */
    public static int vs_inc_rkey(int rkey) {
        try {
            return (int) VS_INC_RKEY.invokeExact(rkey);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_POLL_CQ_BATCH = Downcalls.criticalDowncall(LOOKUP, LIBRARY, "vs_poll_cq_batch",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));

    /** Polls up to {@code maxEntries} completions into an array of {@link vs_completion}: the count, or negative on failure. */
    public static int vs_poll_cq_batch(MemorySegment cq, int maxEntries, MemorySegment out) {
        try {
            return (int) VS_POLL_CQ_BATCH.invokeExact(cq, maxEntries, out);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_LAYOUT_PROBE = Downcalls.downcall(LOOKUP, LIBRARY, "vs_layout_probe",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /** Stores the probe table (an array of {@link vs_layout_entry}) in {@code *entriesOut} and returns its length. */
    public static int vs_layout_probe(MemorySegment entriesOut) {
        try {
            return (int) VS_LAYOUT_PROBE.invokeExact(entriesOut);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_NOOP = Downcalls.downcall(LOOKUP, LIBRARY, "vs_noop",
            FunctionDescriptor.ofVoid());

    /** Does nothing: the bare cost of a downcall, for the benchmark. */
    public static void vs_noop() {
        try {
            VS_NOOP.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle VS_ADD = Downcalls.downcall(LOOKUP, LIBRARY, "vs_add",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG));

    /** Returns {@code a + b}: a downcall with arguments and a result, for the benchmark. */
    public static long vs_add(long a, long b) {
        try {
            return (long) VS_ADD.invokeExact(a, b);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
