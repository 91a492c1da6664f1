package io.vsocket.link.rdma;

import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.buffer.RegisteredMemory;
import io.vsocket.link.Resources;
import io.vsocket.verbs.MemoryRegion;
import io.vsocket.verbs.MemoryWindow;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.Verbs;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One open RDMA device and its one protection domain, shared by every event loop's
 * {@link RdmaContext} on it: a buffer allocated on one loop is flushed on another, and a memory
 * region serves only queue pairs of its own protection domain. It registers every chunk of
 * {@link RegisteredMemory#shared()} (local access only: the device reads them as the source of
 * sends), so a buffer from those chunks is sent in place. Opened by the first context on the device,
 * closed (regions, domain, device) when the last one lets go.
 */
final class RdmaDevice implements RegisteredMemory.Registrar {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(RdmaDevice.class);
    private static final Map<String, RdmaDevice> OPEN = new HashMap<>();
    /** A chunk this device could not register: its buffers are copied. */
    static final long UNREGISTERED = -1;

    private final String name;
    private final VerbsDevice device;
    private final ProtectionDomain pd;
    private final RegisteredMemory memory;
    private final List<MemoryRegion> regions = new ArrayList<>();
    /** The lkey of each chunk by id (as an unsigned int), or UNREGISTERED; replaced whole when a chunk comes. */
    private volatile long[] lkeys = new long[0];
    private int users;
    /** Set by the first failed window allocation: a device property, so every loop's links go without. */
    private volatile boolean windowsUnsupported;

    /** The device's verbs node in sysfs, watched for its removal (null: not found, not watched). */
    private final Path node;
    /** Set once the device is being removed (see {@link DeviceWatch}): its users let go of it. */
    private volatile boolean removed;
    /** What wakes each user (a loop) to let go when the device is removed. */
    private final List<Runnable> wakers = new CopyOnWriteArrayList<>();

    private RdmaDevice(String name, VerbsDevice device, ProtectionDomain pd, RegisteredMemory memory) {
        this.name = name;
        this.device = device;
        this.pd = pd;
        this.memory = memory;
        this.node = DeviceWatch.nodeOf(name);
    }

    String name() {
        return name;
    }

    Path node() {
        return node;
    }

    /** Whether the device is being removed: its users close what they made on it, and nothing new is made. */
    boolean isRemoved() {
        return removed;
    }

    /** {@code waker} runs (on the watch's thread) when the device is found removed; until {@link #removeWaker}. */
    void addWaker(Runnable waker) {
        wakers.add(waker);
    }

    void removeWaker(Runnable waker) {
        wakers.remove(waker);
    }

    /** The device's node went: mark it removed, forget where it served, and wake its users. */
    void removed() {
        removed = true;
        logger.warn("the RDMA device {} is being removed: its rdma connections go on over tcp where they may, "
                + "and this process lets go of it", name);
        RdmaPort.forget(name);
        for (Runnable waker : wakers) {
            waker.run();
        }
    }

    /** The shared device {@code name}, opened now if no context holds it; each call needs one {@link #release()}. */
    static synchronized RdmaDevice acquire(String name) throws IOException {
        RegisteredMemory memory = RegisteredMemory.shared();
        RdmaDevice open = OPEN.get(name);
        if (open != null && open.removed) {
            throw new IOException("the RDMA device " + name + " is being removed");
        }
        if (open == null) {
            VerbsDevice device = Verbs.openDevice(name);
            ProtectionDomain pd;
            try {
                pd = device.allocateProtectionDomain();
            } catch (VerbsException | RuntimeException e) {
                Resources.closeQuietly(device);
                throw e;
            }
            open = new RdmaDevice(name, device, pd, memory);
            memory.addRegistrar(open);
            OPEN.put(name, open);
            DeviceWatch.watch(open);
        }
        open.users++;
        return open;
    }

    /** One user fewer; the last one closes the device (every queue pair and region of its own must be gone by then). */
    void release() {
        synchronized (RdmaDevice.class) {
            if (--users > 0) {
                return;
            }
            OPEN.remove(name);
        }
        DeviceWatch.unwatch(this);
        memory.removeRegistrar(this);
        synchronized (this) {
            Resources.closeQuietly(regions.toArray(new MemoryRegion[0]));
            regions.clear();
            lkeys = new long[0];
        }
        try {
            pd.close();
        } catch (VerbsException | RuntimeException e) {
            // Something made on the domain is still open: closing the device would free what it
            // points into (a later release of it would then crash the process), so the device stays.
            logger.warn("{}: the protection domain is still in use ({}); the device stays open", name, e.toString());
            return;
        }
        Resources.closeQuietly(device);
    }

    VerbsDevice verbs() {
        return device;
    }

    ProtectionDomain protectionDomain() {
        return pd;
    }

    @Override
    public synchronized void chunkAdded(int id, MemorySegment chunk) {
        long key = UNREGISTERED;
        try {
            MemoryRegion region = pd.register(chunk, 0);
            regions.add(region);
            key = Integer.toUnsignedLong(region.lkey());
        } catch (VerbsException | RuntimeException e) {
            logger.warn("{} cannot register a buffer chunk ({} bytes): its buffers are copied when sent; {}", name,
                    chunk.byteSize(), e.toString());
        }
        long[] keys = Arrays.copyOf(lkeys, Math.max(lkeys.length, id + 1));
        Arrays.fill(keys, lkeys.length, keys.length, UNREGISTERED);
        keys[id] = key;
        lkeys = keys;
    }

    /**
     * The lkey under which this device reads {@code [address, address + length)}, or
     * {@link #UNREGISTERED} when that range is not inside one registered chunk. Any thread, no allocation.
     */
    long lkey(long address, int length) {
        int id = memory.chunkOf(address, length);
        long[] keys = lkeys;
        return id >= 0 && id < keys.length ? keys[id] : UNREGISTERED;
    }

    /**
     * A type 2 memory window for a link's ring, or null when this device has none (tried until it
     * fails once; then the links open their rings through their regions, and that is logged once).
     */
    MemoryWindow newWindow() {
        if (windowsUnsupported) {
            return null;
        }
        try {
            return pd.allocateMemoryWindow();
        } catch (VerbsException | RuntimeException e) {
            windowsUnsupported = true;
            logger.warn("{} has no type 2 memory windows ({}): each rdma connection's receive ring is open to "
                    + "remote writes through its memory region, whose key a peer of another connection could use",
                    name, e.toString());
            return null;
        }
    }

    @Override
    public String toString() {
        return "RdmaDevice(" + name + ", " + users + " users)";
    }
}
