package io.vsocket.ffm.ibverbs;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;

/**
 * The three libibverbs calls that list the RDMA devices, apart from {@link Ibverbs}: every JVM that makes a
 * vsocket channel asks whether a device exists, and most machines have none. Linking a downcall of a new
 * descriptor costs 7-12 ms in a fresh JVM, so a machine without a device links these three, as word calls
 * that share libc's stubs, not the library's every binding ({@link Ibverbs#link()} does that once a device
 * is found). Loading this class opens the library.
 */
public final class IbverbsDeviceList {
    private IbverbsDeviceList() {
    }

    /** The library, opened here for {@link Ibverbs} too. */
    static final SymbolLookup LOOKUP = SymbolLookup.libraryLookup(Ibverbs.LIBRARY, Arena.global());

    // Word calls (Downcalls.wordCall): their stubs are those of libc's calls of the same arity.
    private static final MethodHandle IBV_GET_DEVICE_LIST = Downcalls.wordCall(LOOKUP, Ibverbs.LIBRARY, "ibv_get_device_list",
            1, true);

    /** {@code struct ibv_device **ibv_get_device_list(int *num_devices)}; NULL with errno on failure. */
    public static MemorySegment ibv_get_device_list(MemorySegment errno, MemorySegment numDevices) {
        try {
            return MemorySegment.ofAddress((long) IBV_GET_DEVICE_LIST.invokeExact(errno, Downcalls.address(numDevices)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(numDevices);
        }
    }

    private static final MethodHandle IBV_FREE_DEVICE_LIST = Downcalls.wordCall(LOOKUP, Ibverbs.LIBRARY, "ibv_free_device_list",
            1, false);

    /** {@code void ibv_free_device_list(struct ibv_device **list)}. */
    public static void ibv_free_device_list(MemorySegment list) {
        try {
            long nothing = (long) IBV_FREE_DEVICE_LIST.invokeExact(Downcalls.address(list)); // void: the result register is ignored
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle IBV_GET_DEVICE_NAME = Downcalls.wordCall(LOOKUP, Ibverbs.LIBRARY, "ibv_get_device_name",
            1, false);

    /** {@code const char *ibv_get_device_name(struct ibv_device *device)}. */
    public static MemorySegment ibv_get_device_name(MemorySegment device) {
        try {
            return MemorySegment.ofAddress((long) IBV_GET_DEVICE_NAME.invokeExact(Downcalls.address(device)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
