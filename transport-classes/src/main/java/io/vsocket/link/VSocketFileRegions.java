package io.vsocket.link;

import io.netty.channel.DefaultFileRegion;
import io.netty.util.IllegalReferenceCountException;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;

import java.io.FileDescriptor;
import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;

/**
 * What this JVM lets vsocket's channels do with a {@link DefaultFileRegion}, in the style of
 * Netty's {@code Epoll.isAvailable()} / {@code unavailabilityCause()}.
 *
 * <p>Netty's epoll transport reaches into a {@code DefaultFileRegion} from JNI: it reads the
 * region's private {@link FileChannel}, that channel's descriptor, and sets the region's
 * {@code transferred} count after {@code sendfile(2)}. vsocket is pure Java, so it needs the same
 * fields through {@link MethodHandles#privateLookupIn}:
 * <ul>
 * <li>the region's file and count ({@link #hasDirectFileAccess()}): open whenever Netty is on the
 *     class path (the unnamed module); with Netty on the module path, add
 *     {@code --add-opens io.netty.transport/io.netty.channel=io.vsocket.transport} (vsocket on the
 *     module path too) or {@code =ALL-UNNAMED} (vsocket on the class path). With them the ring links
 *     (shm, rdma) read the file straight into ring memory; without them every link goes through the
 *     region's own {@code transferTo}, whose JDK implementation bounces the bytes through a heap
 *     array for a target that is not a JDK channel — correct, but one copy more, and on the heap.</li>
 * <li>the file's descriptor ({@link #hasSendfile()}): it lies in {@code java.base}'s
 *     {@code sun.nio.ch.FileChannelImpl}, open only with
 *     {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED} ({@code =io.vsocket.transport} on the module
 *     path). With it the tcp link sends a
 *     {@code DefaultFileRegion} with {@code sendfile(2)}, as epoll does; without it the tcp link
 *     reads the file into a pooled direct buffer and writes that (two copies, both to and from
 *     native memory, none on the heap).</li>
 * </ul>
 */
public final class VSocketFileRegions {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(VSocketFileRegions.class);

    /** {@code DefaultFileRegion.file}; null when out of reach. */
    private static final VarHandle FILE;
    /** {@code DefaultFileRegion.transferred}; null when out of reach. */
    private static final VarHandle TRANSFERRED;
    private static final Throwable FILE_UNAVAILABLE;
    /** The JDK's own {@code FileChannel} class: the only kind whose descriptor can be read. */
    private static final Class<?> FILE_CHANNEL_IMPL;
    /** {@code (FileChannel) -> int}: {@code IOUtil.fdVal(((FileChannelImpl) channel).fd)}; null when out of reach. */
    private static final MethodHandle FD;
    private static final Throwable SENDFILE_UNAVAILABLE;

    static {
        VarHandle file = null;
        VarHandle transferred = null;
        Throwable fileCause = null;
        try {
            MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(DefaultFileRegion.class, MethodHandles.lookup());
            file = lookup.findVarHandle(DefaultFileRegion.class, "file", FileChannel.class);
            transferred = lookup.findVarHandle(DefaultFileRegion.class, "transferred", long.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            file = null;
            transferred = null;
            fileCause = e;
        }
        FILE = file;
        TRANSFERRED = transferred;
        FILE_UNAVAILABLE = fileCause;

        Class<?> impl = null;
        MethodHandle fd = null;
        Throwable fdCause = fileCause;
        try {
            impl = Class.forName("sun.nio.ch.FileChannelImpl");
            if (fileCause == null) {
                MethodHandle descriptor = MethodHandles.privateLookupIn(impl, MethodHandles.lookup())
                        .findGetter(impl, "fd", FileDescriptor.class);
                Class<?> ioUtil = Class.forName("sun.nio.ch.IOUtil");
                MethodHandle fdVal = MethodHandles.privateLookupIn(ioUtil, MethodHandles.lookup())
                        .findStatic(ioUtil, "fdVal", MethodType.methodType(int.class, FileDescriptor.class));
                fd = MethodHandles.filterReturnValue(descriptor, fdVal)
                        .asType(MethodType.methodType(int.class, FileChannel.class));
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            fd = null;
            fdCause = e;
        }
        FILE_CHANNEL_IMPL = impl;
        FD = fd;
        SENDFILE_UNAVAILABLE = fdCause;
        if (fileCause != null) {
            logger.info("DefaultFileRegion's fields are out of reach ({}): vsocket channels send such regions through "
                    + "their transferTo, which copies through the heap; with Netty on the module path, add "
                    + "--add-opens io.netty.transport/io.netty.channel={}", fileCause.toString(), reader());
        } else if (fdCause != null) {
            logger.debug("no sendfile(2) for DefaultFileRegion on the tcp link ({}); add "
                    + "--add-opens java.base/sun.nio.ch={} for it", fdCause.toString(), reader());
        }
    }

    private VSocketFileRegions() {
    }

    /** Who an {@code --add-opens} must name: this module, or every unnamed one when vsocket is on the class path. */
    private static String reader() {
        String module = VSocketFileRegions.class.getModule().getName();
        return module != null ? module : "ALL-UNNAMED";
    }

    /** Whether a {@code DefaultFileRegion}'s file is reachable, so its bytes need not pass through {@code transferTo}. */
    public static boolean hasDirectFileAccess() {
        return FILE != null;
    }

    /** Why {@link #hasDirectFileAccess()} is false; null when it is true. */
    public static Throwable directFileAccessUnavailabilityCause() {
        return FILE_UNAVAILABLE;
    }

    /** Whether the tcp link sends a {@code DefaultFileRegion} (of a JDK {@code FileChannel}) with {@code sendfile(2)}. */
    public static boolean hasSendfile() {
        return FD != null;
    }

    /** Why {@link #hasSendfile()} is false; null when it is true. */
    public static Throwable sendfileUnavailabilityCause() {
        return SENDFILE_UNAVAILABLE;
    }

    /**
     * The open file of {@code region} (opening it first, as the region's own {@code transferTo}
     * does for one made from a {@code File}). Only when {@link #hasDirectFileAccess()}.
     */
    static FileChannel file(DefaultFileRegion region) throws IOException {
        region.open();
        FileChannel file = (FileChannel) FILE.get(region);
        if (file == null) {
            // open() opens nothing once the region is released (its deallocation closed the file).
            throw new IllegalReferenceCountException(0);
        }
        if (!file.isOpen()) {
            throw new ClosedChannelException();
        }
        return file;
    }

    /** Counts {@code bytes} more as transferred, as the region's own {@code transferTo} would have. */
    static void addTransferred(DefaultFileRegion region, long bytes) {
        TRANSFERRED.set(region, (long) TRANSFERRED.get(region) + bytes);
    }

    /**
     * The descriptor of {@code file}, or -1 when it cannot be had: no {@link #hasSendfile()}, or
     * not a JDK file channel (a {@code FileChannel} of the application's own making).
     */
    static int fd(FileChannel file) {
        if (FD == null || file.getClass() != FILE_CHANNEL_IMPL) {
            return -1;
        }
        try {
            return (int) FD.invokeExact(file);
        } catch (Throwable t) {
            throw new IllegalStateException("cannot read the descriptor of " + file, t);
        }
    }
}
