package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.FileRegion;
import io.netty.util.concurrent.FastThreadLocal;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.stream.RingSource;
import io.vsocket.stream.StreamLink;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Writes the {@link FileRegion}s of one channel: into the peer's ring on the shm and rdma links
 * (through {@link StreamLink#write(RingSource, int)}, the same call on both), into the socket on the
 * tcp link. Made on a channel's first region; one thread (the channel's loop).
 *
 * <p>A {@link DefaultFileRegion} whose file is reachable ({@link VSocketFileRegions}) never passes
 * through its {@code transferTo}: the JDK's {@code FileChannel.transferTo} to a target that is not
 * one of its own channels reads into a fresh heap array and hands that to the target, a heap copy
 * per 8 KiB. Instead:
 * <ul>
 * <li>ring links: {@code FileChannel.read(stretch, position)} with the stretch of ring memory that
 *     credit allows (a {@code pread} straight into the shared ring, or into the rdma link's registered
 *     staging ring that the device sends from): one copy, in the kernel;</li>
 * <li>tcp, descriptor reachable: {@code sendfile(2)}, as Netty's epoll transport does;</li>
 * <li>tcp, descriptor out of reach: {@code pread} into a pooled direct buffer of up to
 *     {@link #STAGE_SIZE}, then {@code send} from it; what the socket does not take stays there for
 *     the next write. Chosen over mapping windows of the file ({@code FileChannel.map(..., Arena)})
 *     and sending from the mapping, which saves a copy: a window needs an arena per region (a
 *     confined one cannot be closed by the close path if that ever runs off the loop, a shared one's
 *     close costs a handshake with every thread, per window), an mmap/munmap and a page fault
 *     per page; the copy into a buffer that stays hot in the cache costs less than that for the
 *     sizes a socket takes per write, and it works for any {@code FileChannel}.</li>
 * </ul>
 * Any other {@code FileRegion} writes itself through {@code transferTo} into a
 * {@link WritableByteChannel} of this writer: one that copies the region's buffers into the ring as
 * credit allows (a {@code ByteBuf} written to the channel is copied the same way), or that writes them
 * to the socket without blocking (a heap buffer through a per-thread native bounce, as Netty's own
 * {@code SocketWritableByteChannel} does). Either returns fewer bytes than offered (0 when full)
 * instead of waiting.
 */
final class FileRegionWriter {
    /**
     * What the tcp link reads of a file per read when it cannot use sendfile: 256 KiB, so that a flush's
     * write spins (16 by default) hand the kernel about what one sendfile call does on epoll. At 64 KiB a
     * flush took 1 MiB, and an application that wrote an 8 MiB region and closed at once delivered 1 MiB
     * where epoll's sendfile had handed the kernel 4 (a probe, 2026-12-05).
     */
    static final int STAGE_SIZE = 256 * 1024;
    /** The per-thread native bounce for heap buffers a region writes to the socket. */
    private static final int BOUNCE_SIZE = 64 * 1024;
    private static final FastThreadLocal<Bounce> BOUNCE = new FastThreadLocal<>() {
        @Override
        protected Bounce initialValue() {
            return new Bounce();
        }
    };

    private final NativeSocket socket;
    private final ChannelConfig config;
    private final FileSource fileSource = new FileSource();
    private final BufferSource bufferSource = new BufferSource();
    private final RingTarget ringTarget = new RingTarget();
    private final SocketTarget socketTarget = new SocketTarget();
    /** The last write stopped because the link or socket took no more (as opposed to the region having no more). */
    private boolean blocked;
    /** What the last {@link #write} sent (the tcp link counts its bytes). */
    private long lastWritten;
    /** The ring link being written, during a region's transferTo only. */
    private StreamLink link;
    /** tcp without sendfile: file bytes read and not yet sent, of {@link #stagedRegion}. */
    private ByteBuf stage;
    private FileRegion stagedRegion;

    FileRegionWriter(NativeSocket socket, ChannelConfig config) {
        this.socket = socket;
        this.config = config;
    }

    /**
     * True when the last write stopped because the link (no credit, no room to post) or the socket
     * (its buffer full) could take no more: wait for credit or writability, as for a buffer. False
     * when the region itself gave less: a region that gave nothing then cannot progress.
     */
    /**
     * Writes the next bytes of {@code region}, the head of {@code in}, as Netty's epoll transport
     * does: into {@code ring} (publishing them before progress is reported: a listener may close the
     * channel at once), or to the socket when {@code ring} is null. A region already done (count 0
     * included) is removed at once; bytes written count as progress, and the region goes when
     * {@code transferred() >= count()}. Returns 0 when nothing was written (the region was done), 1
     * when bytes went out, -1 when the socket or ring took none (wait for writability or credit, as
     * for a buffer) — or, on a ring, took some and then no more.
     */
    int write(ChannelOutboundBuffer in, FileRegion region, StreamLink ring) throws IOException {
        lastWritten = 0;
        long count = region.count();
        if (region.transferred() >= count) {
            regionDone(in, region);
            return 0;
        }
        long n = ring != null ? toRing(ring, region) : toSocket(region);
        if (n > 0) {
            lastWritten = n;
            if (ring != null) {
                ring.publish();
            }
            in.progress(n);
            if (region.transferred() >= count) {
                regionDone(in, region);
                return 1;
            }
            return ring != null && blocked ? -1 : 1;
        }
        if (!blocked) {
            throw noProgress(region);
        }
        return -1;
    }

    private void regionDone(ChannelOutboundBuffer in, FileRegion region) {
        regionDone(region);
        in.remove();
    }

    /**
     * A region whose {@code transferTo} wrote nothing although the link could take bytes: nothing
     * would ever wake the channel for it (its source has no readiness to wait for), and trying
     * again at once would spin the loop. Epoll waits for writability, which a writable socket
     * reports at once, forever; vsocket fails the write instead.
     */
    private static IOException noProgress(FileRegion region) {
        return new IOException(region.getClass().getName() + " made no progress: it wrote nothing though the channel "
                + "could take more (" + region.transferred() + " of " + region.count() + " bytes transferred)");
    }

    /** The bytes the last {@link #write} sent. */
    long lastWritten() {
        return lastWritten;
    }

    boolean blocked() {
        return blocked;
    }

    /** Writes the next bytes of {@code region} into {@code ring}'s peer ring (unpublished); the count. */
    long toRing(StreamLink ring, FileRegion region) throws IOException {
        blocked = false;
        long remaining = region.count() - region.transferred();
        if (region instanceof DefaultFileRegion d && VSocketFileRegions.hasDirectFileAccess()) {
            FileChannel file = VSocketFileRegions.file(d);
            int asked = (int) Math.min(remaining, Integer.MAX_VALUE);
            fileSource.start(d, file);
            try {
                int n = ring.write(fileSource, asked);
                if (n > 0) {
                    // What went into the ring counts, even if the file ended right after it.
                    VSocketFileRegions.addTransferred(d, n);
                } else if (fileSource.ended) {
                    throw fileEnded(d, fileSource.position);
                }
                // The file filled every stretch it was given, and the link gave no more: out of credit.
                blocked = n < asked && !fileSource.ranShort;
                return n;
            } finally {
                fileSource.clear();
            }
        }
        link = ring;
        try {
            return region.transferTo(ringTarget, region.transferred());
        } finally {
            link = null;
        }
    }

    /** Writes the next bytes of {@code region} to the socket; the count, 0 when it took nothing. */
    long toSocket(FileRegion region) throws IOException {
        blocked = false;
        if (region instanceof DefaultFileRegion d && VSocketFileRegions.hasDirectFileAccess()) {
            FileChannel file = VSocketFileRegions.file(d);
            long offset = d.transferred();
            long remaining = d.count() - offset;
            int fd = VSocketFileRegions.fd(file);
            long n;
            if (fd >= 0) {
                n = socket.sendFile(fd, d.position() + offset, remaining);
                if (n == NativeSocket.EOF) {
                    // The file ends before the region: fail it, having sent all the file has (epoll
                    // checks the size whenever the socket is full, and may fail it sooner). A file
                    // that covers the region after all grew meanwhile: the region is failed as one
                    // that made no progress rather than retried.
                    checkFileCovers(d, file);
                    n = 0;
                } else if (n == 0) {
                    blocked = true; // the socket buffer is full
                }
            } else {
                n = sendStaged(d, file, offset, remaining);
            }
            if (n > 0) {
                VSocketFileRegions.addTransferred(d, n);
            }
            return n;
        }
        return region.transferTo(socketTarget, region.transferred());
    }

    /** tcp without sendfile: reads the region's next bytes into the stage (if it is empty) and sends from it. */
    private long sendStaged(DefaultFileRegion region, FileChannel file, long offset, long remaining) throws IOException {
        if (stagedRegion != region) {
            releaseStage();
        }
        ByteBuf s = stage;
        if (s == null || !s.isReadable()) {
            // Never more than the region has left: the stage holds the region's next bytes, no one else's.
            int length = (int) Math.min(remaining, STAGE_SIZE);
            if (s == null) {
                s = stage = config.getAllocator().directBuffer(length);
                stagedRegion = region;
            }
            s.clear();
            ByteBuffer into = s.internalNioBuffer(0, Math.min(length, s.capacity()));
            long at = region.position() + offset;
            int n = file.read(into, at);
            if (n < 0) {
                throw fileEnded(region, at);
            }
            s.writerIndex(n);
            if (n == 0) {
                return 0;
            }
        }
        int readable = s.readableBytes();
        long sent = socket.write(BufferAddress.of(s, s.readerIndex(), readable), readable);
        s.skipBytes((int) sent);
        blocked = sent < readable;
        return sent;
    }

    /** The region is done, or gone: its staged bytes, if any, are of no more use. */
    void regionDone(FileRegion region) {
        if (stagedRegion == region) {
            releaseStage();
        }
    }

    private void releaseStage() {
        ByteBuf s = stage;
        stage = null;
        stagedRegion = null;
        if (s != null) {
            s.release();
        }
    }

    /** The channel closed: lets go of the stage. */
    void close() {
        releaseStage();
    }

    /** A region whose file is shorter than it says fails, as Netty's {@code DefaultFileRegion} does. */
    private static void checkFileCovers(DefaultFileRegion region, FileChannel file) throws IOException {
        long size = file.size();
        if (region.position() + region.count() > size) {
            throw new IOException("the file of a region of " + region.count() + " bytes from " + region.position()
                    + " has only " + size + " bytes");
        }
    }

    private static IOException fileEnded(DefaultFileRegion region, long at) {
        return new IOException("the file of a region of " + region.count() + " bytes from " + region.position()
                + " ends at byte " + at);
    }

    /** A {@code DefaultFileRegion}'s file, read at the region's next position into each stretch of ring. */
    private static final class FileSource implements RingSource {
        private FileChannel file;
        long position;
        /** A read gave fewer bytes than the stretch held: the file, not the link, ended this write. */
        boolean ranShort;
        /** The file ended: the write ends, and if nothing went in, the region fails. */
        boolean ended;

        void start(DefaultFileRegion region, FileChannel file) {
            this.file = file;
            this.position = region.position() + region.transferred();
            this.ranShort = false;
            this.ended = false;
        }

        void clear() {
            file = null;
        }

        /**
         * Reads the file into the stretch ({@code pread} into ring memory). At the end of the file it
         * gives 0 rather than throwing, so the link keeps what earlier stretches took and the region
         * counts them; the next write, which gets nothing, fails the region.
         */
        @Override
        public int fill(ByteBuffer stretch) throws IOException {
            int room = stretch.remaining();
            int n = file.read(stretch, position);
            if (n < 0) {
                ended = true;
                ranShort = true;
                return 0;
            }
            if (n < room) {
                ranShort = true;
            }
            position += n;
            return n;
        }
    }

    /** The buffer a region handed to {@link RingTarget#write}, copied into each stretch of ring. */
    private static final class BufferSource implements RingSource {
        ByteBuffer src;

        @Override
        public int fill(ByteBuffer stretch) {
            int n = Math.min(stretch.remaining(), src.remaining());
            stretch.put(stretch.position(), src, src.position(), n);
            src.position(src.position() + n);
            return n;
        }
    }

    /** A region's target on a ring link: takes as much of each buffer as credit allows, never waits. */
    private final class RingTarget implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            StreamLink l = link;
            if (l == null) {
                throw new ClosedChannelException(); // kept past transferTo, or the channel closed
            }
            int length = src.remaining();
            if (length == 0) {
                return 0;
            }
            bufferSource.src = src;
            int n;
            try {
                n = l.write(bufferSource, length);
            } finally {
                bufferSource.src = null;
            }
            if (n < length) {
                blocked = true;
            }
            return n;
        }

        @Override
        public boolean isOpen() {
            return link != null;
        }

        @Override
        public void close() {
            // The Netty channel owns the link: a region cannot close it.
        }
    }

    /** A region's target on the tcp link: one non-blocking send per call, 0 when the socket buffer is full. */
    private final class SocketTarget implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            socket.ensureOpen();
            int length = src.remaining();
            if (length == 0) {
                return 0;
            }
            long sent;
            int attempted;
            if (src.isDirect()) {
                attempted = length;
                sent = socket.write(MemorySegment.ofBuffer(src).address(), attempted);
            } else {
                // The kernel needs native memory: copy through this thread's bounce (a socket write
                // takes 64 KiB at a time at most anyway; the rest stays in the caller's buffer).
                Bounce bounce = BOUNCE.get();
                attempted = Math.min(length, BOUNCE_SIZE);
                bounce.view.put(0, src, src.position(), attempted);
                sent = socket.write(bounce.address, attempted);
            }
            if (sent < attempted) {
                blocked = true;
            }
            src.position(src.position() + (int) sent);
            return (int) sent;
        }

        @Override
        public boolean isOpen() {
            return socket.isOpen();
        }

        @Override
        public void close() {
            // The Netty channel owns the socket: a region cannot close it.
        }
    }

    /** Native memory for heap buffers on their way to the socket: one per loop thread, never freed (like IovArray). */
    private static final class Bounce {
        final MemorySegment memory = Arena.ofAuto().allocate(BOUNCE_SIZE);
        final ByteBuffer view = memory.asByteBuffer();
        final long address = memory.address();
    }
}
