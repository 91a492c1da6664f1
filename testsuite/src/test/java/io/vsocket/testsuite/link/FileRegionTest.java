package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelProgressiveFuture;
import io.netty.channel.ChannelProgressiveFutureListener;
import io.netty.channel.ChannelProgressivePromise;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FileRegion;
import io.netty.util.AbstractReferenceCounted;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketFileRegions;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FileRegion}s on the shm and tcp links: a file of several MiB of random bytes sent as
 * {@link DefaultFileRegion}s (whole, and from an offset, one opened lazily from its {@code File})
 * and as a region that implements {@code transferTo} itself (through heap and through direct
 * buffers), mixed with buffers and empty regions in one flush, through a ring small enough that
 * credit runs out and the ring wraps many times. The receiver checks a CRC of everything against
 * the expected stream; each region's {@code transferred()} must equal its count, and its promise's
 * progress must have reached it. Regions that name more bytes than their file has must fail their
 * write with an {@link IOException}, not hang.
 *
 * <p>The tcp link's {@code DefaultFileRegion} path depends on the JVM's flags: with
 * {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED} it is {@code sendfile(2)}, without it a pread
 * into a pooled direct buffer. The build runs this class both ways (the testsuite module's second
 * surefire execution sets {@code -Dvsocket.test.sendfile=true} with the flag), and the test checks
 * that the path it meant to take is the one available.
 */
@Timeout(120)
class FileRegionTest {
    private static final int FILE_SIZE = (6 << 20) + 4321;
    private static final int RING = 64 * 1024;
    private static EventLoopGroup group;
    private static Path file;
    private static byte[] content;

    @TempDir
    static Path dir;

    @BeforeAll
    static void start() throws IOException {
        group = new VSocketEventLoopGroup(2);
        content = new byte[FILE_SIZE];
        new SplittableRandom(20261202).nextBytes(content);
        file = dir.resolve("content.bin");
        Files.write(file, content);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void theExpectedFilePathsAreAvailable() {
        // With Netty on the class path the region's file is always reachable: no heap bounce.
        assertNull(VSocketFileRegions.directFileAccessUnavailabilityCause());
        assertTrue(VSocketFileRegions.hasDirectFileAccess());
        boolean sendfile = Boolean.getBoolean("vsocket.test.sendfile");
        assertEquals(sendfile, VSocketFileRegions.hasSendfile(),
                "sendfile expected " + sendfile + ": " + VSocketFileRegions.sendfileUnavailabilityCause());
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void regionsAndBuffersMixedInOneFlushArriveIntact(VSocketLink link) throws Exception {
        byte[] head = bytes(1000, 1);
        byte[] middle = bytes(77, 2);
        byte[] tail = bytes(4096 + 5, 3);
        int offsetStart = 12345;
        int offsetCount = 3 << 20;
        int heapStart = 777;
        int heapCount = 4 << 20;
        int directStart = FILE_SIZE - (1 << 20) - 1;
        int directCount = 1 << 20;

        CRC32 expected = new CRC32();
        expected.update(head);
        expected.update(content, 0, FILE_SIZE);
        expected.update(middle);
        expected.update(content, offsetStart, offsetCount);
        expected.update(content, heapStart, heapCount);
        expected.update(content, directStart, directCount);
        expected.update(tail);
        long total = head.length + FILE_SIZE + middle.length + offsetCount + heapCount + directCount + tail.length;

        Peers.Collector collector = new Peers.Collector(total);
        Channel server = smallRingServer(link);
        Channel client = smallRingClient(link, server, collector);
        try {
            assertEquals(link, Peers.linkOf(client));
            List<FileRegion> regions = new ArrayList<>();
            List<Progress> progress = new ArrayList<>();
            List<ChannelFuture> writes = new ArrayList<>();

            FileRegion emptyFirst = new DefaultFileRegion(open(), 0, 0);
            FileRegion whole = new NoTransferTo(open(), 0, FILE_SIZE);
            // Opened lazily from the File (the transport must open() it first), from an offset.
            FileRegion atOffset = new DefaultFileRegion(file.toFile(), offsetStart, offsetCount);
            FileRegion emptyCustom = new OwnTransferTo(open(), 100, 0, false);
            FileRegion heap = new OwnTransferTo(open(), heapStart, heapCount, false);
            FileRegion direct = new OwnTransferTo(open(), directStart, directCount, true);

            writes.add(writeRegion(client, emptyFirst, regions, progress));
            writes.add(client.write(buffer(client, head)));
            writes.add(writeRegion(client, whole, regions, progress));
            writes.add(client.write(buffer(client, middle)));
            writes.add(writeRegion(client, atOffset, regions, progress));
            writes.add(writeRegion(client, emptyCustom, regions, progress));
            writes.add(writeRegion(client, heap, regions, progress));
            writes.add(writeRegion(client, direct, regions, progress));
            writes.add(client.write(buffer(client, tail)));
            client.flush();

            assertEquals(expected.getValue(), collector.done.get(), "the stream echoed on " + link);
            for (ChannelFuture f : writes) {
                f.sync();
            }
            for (int i = 0; i < regions.size(); i++) {
                FileRegion r = regions.get(i);
                assertEquals(r.count(), r.transferred(), "region " + i + ": transferred() is its count");
                assertEquals(r.count(), progress.get(i).last, "region " + i + ": progress reached its count");
                assertEquals(0, r.refCnt(), "region " + i + " released once written");
            }
            assertTrue(progress.get(1).events > 1, "a region larger than the ring progresses in steps: "
                    + progress.get(1).events);
        } finally {
            client.close().sync();
            server.close().sync();
        }
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aDefaultFileRegionLongerThanItsFileFailsItsWrite(VSocketLink link) throws Exception {
        failsWithIOException(link, new DefaultFileRegion(open(), 4096, FILE_SIZE));
    }

    /**
     * A region that implements {@code transferTo} naively: at the end of its file it writes nothing
     * and returns 0 though the channel could take more. Nothing would ever wake the channel for it,
     * so the transport fails the write rather than retry it forever (Netty's epoll would wait for
     * writability, which a writable socket reports at once, and spin).
     */
    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void aCustomRegionThatCannotProgressFailsItsWrite(VSocketLink link) throws Exception {
        failsWithIOException(link, new OwnTransferTo(open(), 4096, FILE_SIZE, false));
    }

    private static void failsWithIOException(VSocketLink link, FileRegion region) throws Exception {
        Channel server = smallRingServer(link);
        Channel client = smallRingClient(link, server, new Peers.Collector(Long.MAX_VALUE));
        try {
            assertEquals(link, Peers.linkOf(client));
            ChannelFuture write = client.writeAndFlush(region).await();
            assertInstanceOf(IOException.class, write.cause(), "the write of a region longer than its file");
            // What the file had went out before the write failed.
            assertEquals(FILE_SIZE - 4096, region.transferred());
        } finally {
            client.close().sync();
            server.close().sync();
        }
    }

    /**
     * An echo server whose receive ring is small: a client's regions fill it, and wrap it, many times over.
     * On the tcp link the socket buffers are the ring: left to loopback's autotuning (MiBs), one
     * {@code sendfile} could carry the whole region while the reader drains on the other core.
     */
    private static Channel smallRingServer(VSocketLink link) throws InterruptedException {
        return Peers.vsocketServer(group, List.of(link), Peers.Echo.INSTANCE)
                .childOption(VSocketChannelOption.RING_SIZE, RING)
                .option(ChannelOption.SO_RCVBUF, RING)
                .bind(loopback()).sync().channel();
    }

    private static Channel smallRingClient(VSocketLink link, Channel server, Peers.Collector collector)
            throws InterruptedException {
        return Peers.vsocketClient(group, List.of(link), collector)
                .option(VSocketChannelOption.RING_SIZE, RING)
                .option(ChannelOption.SO_SNDBUF, RING)
                .connect(server.localAddress()).sync().channel();
    }

    private static ChannelFuture writeRegion(Channel channel, FileRegion region, List<FileRegion> regions,
                                             List<Progress> progress) {
        ChannelProgressivePromise promise = channel.newProgressivePromise();
        Progress p = new Progress(region.count());
        promise.addListener(p);
        regions.add(region);
        progress.add(p);
        return channel.write(region, promise);
    }

    /** Records what a region's promise reports: the last progress, in how many steps; never backwards, never past the total. */
    private static final class Progress implements ChannelProgressiveFutureListener {
        private final long count;
        volatile long last;
        volatile int events;

        Progress(long count) {
            this.count = count;
        }

        @Override
        public void operationProgressed(ChannelProgressiveFuture future, long progress, long total) {
            if (total != count || progress < last || progress > total) {
                throw new AssertionError("progress " + progress + " of " + total + " after " + last + ", count " + count);
            }
            last = progress;
            events++;
        }

        @Override
        public void operationComplete(ChannelProgressiveFuture future) {
        }
    }

    private static FileChannel open() throws IOException {
        return new RandomAccessFile(file.toFile(), "r").getChannel();
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress("127.0.0.1", 0);
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    private static ByteBuf buffer(Channel channel, byte[] bytes) {
        return channel.alloc().directBuffer(bytes.length).writeBytes(bytes);
    }

    /**
     * A {@code DefaultFileRegion} whose {@code transferTo} must not be called: where its file is
     * reachable the transport reads it itself (into the ring, or with sendfile or a direct buffer on
     * tcp), never through {@code transferTo}, whose JDK implementation copies through the heap.
     */
    private static final class NoTransferTo extends DefaultFileRegion {
        NoTransferTo(FileChannel file, long position, long count) {
            super(file, position, count);
        }

        @Override
        public long transferTo(WritableByteChannel target, long position) throws IOException {
            throw new IOException("transferTo called: the file's bytes went through the heap");
        }
    }

    /**
     * A region that implements {@code transferTo} itself, as an encrypting or framing region would:
     * it reads its file into buffers of its own (heap or direct) and writes them to the target until
     * the target takes less than it was given. At the end of its file it returns what it wrote: 0
     * when that was nothing.
     */
    private static final class OwnTransferTo extends AbstractReferenceCounted implements FileRegion {
        private static final int CHUNK = 16 * 1024 + 3;
        private final FileChannel file;
        private final long position;
        private final long count;
        private final ByteBuffer chunk;
        private long transferred;

        OwnTransferTo(FileChannel file, long position, long count, boolean direct) {
            this.file = file;
            this.position = position;
            this.count = count;
            this.chunk = direct ? ByteBuffer.allocateDirect(CHUNK) : ByteBuffer.allocate(CHUNK);
        }

        @Override
        public long position() {
            return position;
        }

        @Override
        public long count() {
            return count;
        }

        @Override
        public long transferred() {
            return transferred;
        }

        @Override
        @Deprecated
        public long transfered() {
            return transferred;
        }

        @Override
        public long transferTo(WritableByteChannel target, long at) throws IOException {
            if (at != transferred) {
                throw new IOException("transferTo at " + at + ", transferred " + transferred);
            }
            long written = 0;
            while (transferred < count) {
                chunk.clear().limit((int) Math.min(CHUNK, count - transferred));
                int read = file.read(chunk, position + transferred);
                if (read <= 0) {
                    break;
                }
                chunk.flip();
                int took = target.write(chunk);
                transferred += took;
                written += took;
                if (took < read) {
                    break;
                }
            }
            return written;
        }

        @Override
        protected void deallocate() {
            try {
                file.close();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }

        @Override
        public FileRegion retain() {
            super.retain();
            return this;
        }

        @Override
        public FileRegion retain(int increment) {
            super.retain(increment);
            return this;
        }

        @Override
        public FileRegion touch() {
            return this;
        }

        @Override
        public FileRegion touch(Object hint) {
            return this;
        }
    }
}
