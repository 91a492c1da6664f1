package io.vsocket.ffm.ibverbs;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * The three libibverbs calls that list the RDMA devices, apart from {@link Ibverbs}: every JVM that makes a
 * vsocket channel asks whether a device exists, and most machines have none. Linking a downcall costs
 * about 6 ms in a fresh JVM, so a machine without a device links these three, not the library's every
 * binding ({@link Ibverbs#link()} does that once a device is found). Loading this class opens the library.
 */
public final class IbverbsDeviceList {
    private IbverbsDeviceList() {
    }

    /** The library, opened here for {@link Ibverbs} too. */
    static final SymbolLookup LOOKUP = SymbolLookup.libraryLookup(Ibverbs.LIBRARY, Arena.global());

    private static final MethodHandle IBV_GET_DEVICE_LIST = Downcalls.downcallCapturingErrno(LOOKUP, Ibverbs.LIBRARY, "ibv_get_device_list",
            FunctionDescriptor.of(ADDRESS, ADDRESS));

    /** {@code struct ibv_device **ibv_get_device_list(int *num_devices)}; NULL with errno on failure. */
    public static MemorySegment ibv_get_device_list(MemorySegment errno, MemorySegment numDevices) {
        try {
            return (MemorySegment) IBV_GET_DEVICE_LIST.invokeExact(errno, numDevices);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle IBV_FREE_DEVICE_LIST = Downcalls.downcall(LOOKUP, Ibverbs.LIBRARY, "ibv_free_device_list",
            FunctionDescriptor.ofVoid(ADDRESS));

    /** {@code void ibv_free_device_list(struct ibv_device **list)}. */
    public static void ibv_free_device_list(MemorySegment list) {
        try {
            IBV_FREE_DEVICE_LIST.invokeExact(list);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle IBV_GET_DEVICE_NAME = Downcalls.downcall(LOOKUP, Ibverbs.LIBRARY, "ibv_get_device_name",
            FunctionDescriptor.of(ADDRESS, ADDRESS));

    /** {@code const char *ibv_get_device_name(struct ibv_device *device)}. */
    public static MemorySegment ibv_get_device_name(MemorySegment device) {
        try {
            return (MemorySegment) IBV_GET_DEVICE_NAME.invokeExact(device);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
