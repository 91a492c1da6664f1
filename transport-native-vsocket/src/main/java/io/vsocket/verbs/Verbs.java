package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.IbverbsDeviceList;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Whether RDMA verbs can be used here, in the style of Netty's {@code Epoll}: {@link #isAvailable()},
 * {@link #unavailabilityCause()}, {@link #ensureAvailability()}. The check runs once: libibverbs
 * must load, at least one device must exist, and the glue library must load and match this code's
 * ABI. When any of these fails nothing else breaks: the cause says which, and the rest of
 * vsocket falls back to its other links.
 */
public final class Verbs {
    private static final Throwable UNAVAILABILITY_CAUSE = probe(Ibverbs.LIBRARY);

    private Verbs() {
    }

    public static boolean isAvailable() {
        return UNAVAILABILITY_CAUSE == null;
    }

    /** Why verbs are unavailable, or null when they are available. */
    public static Throwable unavailabilityCause() {
        return UNAVAILABILITY_CAUSE;
    }

    public static void ensureAvailability() {
        if (UNAVAILABILITY_CAUSE != null) {
            throw (Error) new UnsatisfiedLinkError("RDMA verbs are unavailable: "
                    + UNAVAILABILITY_CAUSE.getMessage()).initCause(UNAVAILABILITY_CAUSE);
        }
    }

    /**
     * The checks behind {@link #isAvailable()}, with the library name as a parameter so a test can
     * show what a machine without libibverbs reports. Returns null when everything is there.
     */
    static Throwable probe(String library) {
        try {
            if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
                return new UnsupportedOperationException("RDMA verbs need Linux, not " + System.getProperty("os.name"));
            }
            try {
                SymbolLookup.libraryLookup(library, Arena.global());
            } catch (IllegalArgumentException e) {
                return new UnsatisfiedLinkError(library + " could not be loaded (install rdma-core's libibverbs: "
                        + "Debian package libibverbs1 with ibverbs-providers): " + e.getMessage());
            }
            List<String> devices = deviceNames();
            if (devices.isEmpty()) {
                return new UnsupportedOperationException("no RDMA device: ibv_get_device_list found none "
                        + "(load a driver, e.g. 'modprobe rdma_rxe' and 'rdma link add rxe0 type rxe netdev eth0')");
            }
            // The library's other bindings and the glue serve the verbs alone: a machine without a device never
            // links them (7-12 ms for each distinct descriptor in a fresh JVM, and the glue's copy out of the jar).
            Ibverbs.link();
            int abi = Glue.vs_glue_abi_version();
            if (abi != Glue.ABI_VERSION) {
                return new UnsatisfiedLinkError("the vsocket glue library has ABI version " + abi
                        + " but this code needs " + Glue.ABI_VERSION + " (mismatched vsocket jars)");
            }
            return null;
        } catch (IllegalCallerException e) {
            return Downcalls.nativeAccessRefused(e);
        } catch (Throwable t) {
            return t;
        }
    }

    /** The names of the RDMA devices present ({@code rxe0}, {@code mlx5_0}, ...); empty when there are none. */
    public static List<String> deviceNames() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment count = arena.allocate(JAVA_INT);
            MemorySegment list = IbverbsDeviceList.ibv_get_device_list(errno, count);
            if (list.equals(MemorySegment.NULL)) {
                int e = Downcalls.errno(errno);
                // ENOSYS: the kernel has no uverbs support; that simply means no device here.
                if (e == io.vsocket.ffm.libc.LibC.ENOSYS) {
                    return List.of();
                }
                throw new VerbsException("ibv_get_device_list", e);
            }
            try {
                int n = count.get(JAVA_INT, 0);
                MemorySegment devices = list.reinterpret(ADDRESS.byteSize() * n);
                List<String> names = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    names.add(IbverbsDeviceList.ibv_get_device_name(devices.getAtIndex(ADDRESS, i))
                            .reinterpret(Long.MAX_VALUE).getString(0));
                }
                return List.copyOf(names);
            } finally {
                IbverbsDeviceList.ibv_free_device_list(list);
            }
        }
    }

    /**
     * Opens the device called {@code name}.
     *
     * @throws IOException when no device has that name, or opening it fails
     */
    public static VerbsDevice openDevice(String name) throws IOException {
        ensureAvailability();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment count = arena.allocate(JAVA_INT);
            MemorySegment list = VerbsException.checkPointer("ibv_get_device_list",
                    IbverbsDeviceList.ibv_get_device_list(errno, count), errno);
            try {
                int n = count.get(JAVA_INT, 0);
                MemorySegment devices = list.reinterpret(ADDRESS.byteSize() * n);
                List<String> seen = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    MemorySegment device = devices.getAtIndex(ADDRESS, i);
                    String deviceName = IbverbsDeviceList.ibv_get_device_name(device).reinterpret(Long.MAX_VALUE).getString(0);
                    if (deviceName.equals(name)) {
                        long guid = Long.reverseBytes(Ibverbs.ibv_get_device_guid(device));
                        MemorySegment context = VerbsException.checkPointer("ibv_open_device(" + name + ")",
                                Ibverbs.ibv_open_device(errno, device), errno);
                        return new VerbsDevice(context, name, guid);
                    }
                    seen.add(deviceName);
                }
                throw new IOException("no RDMA device named " + name + " (present: " + seen + ")");
            } finally {
                // Contexts opened above stay valid after the list is freed.
                IbverbsDeviceList.ibv_free_device_list(list);
            }
        }
    }
}
