package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tcp link's bytes ahead of the stream (the server's shm offer goes that way): they leave in the
 * same {@code writev} as the stream's next bytes, before them, whole even when the socket takes them
 * in parts, and they are not counted as the stream's (where a stream leaves tcp is counted in its
 * own bytes).
 */
@Timeout(60)
class TcpConnectionLinkTest {
    private NativeSocket server;
    private NativeSocket writer;
    private NativeSocket reader;
    private final Host host = new Host();
    private final EmbeddedChannel outboundOwner = new EmbeddedChannel();
    private final Arena arena = Arena.ofConfined();
    /** Only for its config (the link's settings); never registered, closed after the test. */
    private final VSocketSocketChannel settingsOwner = new VSocketSocketChannel();

    @BeforeEach
    void connect() throws Exception {
        server = NativeSocket.newStreamSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        server.listen(1);
        writer = NativeSocket.newStreamSocket();
        InetSocketAddress address = server.localAddress();
        boolean connected = writer.connect(address);
        for (int i = 0; i < 2000 && reader == null; i++) {
            reader = server.accept();
            Thread.sleep(1);
        }
        assertNotNull(reader, "accepted");
        if (!connected) {
            assertTrue(writer.finishConnect(address));
        }
    }

    @AfterEach
    void close() throws Exception {
        outboundOwner.finishAndReleaseAll();
        settingsOwner.unsafe().closeForcibly();
        reader.close();
        writer.close();
        server.close();
        arena.close();
    }

    @Test
    void bytesAheadLeaveInFrontOfTheStreamsNextAndAreNotCountedAsTheStreams() throws Exception {
        TcpConnectionLink link = new TcpConnectionLink(host, writer, settingsOwner.config());
        link.sendAhead(Unpooled.copiedBuffer(pattern('o', 100))); // a heap buffer: copied to direct memory
        ChannelOutboundBuffer out = outbound(pattern('s', 300));
        link.write(out);
        assertEquals(0, out.totalPendingWriteBytes(), "the stream's bytes went");
        assertEquals(300, link.bytesWritten(), "the bytes ahead are not the stream's");
        byte[] got = readExactly(400);
        assertArrayEquals(concat(pattern('o', 100), pattern('s', 300)), got);
    }

    @Test
    void bytesAheadTheSocketTakesInPartsStillGoWholeBeforeTheStream() throws Exception {
        writer.setIntOption(LibC.SOL_SOCKET, LibC.SO_SNDBUF, 4096, "SO_SNDBUF");
        reader.setIntOption(LibC.SOL_SOCKET, LibC.SO_RCVBUF, 4096, "SO_RCVBUF");
        // Fill the connection first, so that the socket takes what follows only as the reader drains it.
        MemorySegment filler = arena.allocate(4096);
        long filled = 0;
        for (long n; (n = writer.write(filler.address(), 4096)) > 0; ) {
            filled += n;
        }
        TcpConnectionLink link = new TcpConnectionLink(host, writer, settingsOwner.config());
        byte[] ahead = pattern('o', 48 << 10);
        byte[] stream = pattern('s', 48 << 10);
        link.sendAhead(Unpooled.wrappedBuffer(ahead));
        ChannelOutboundBuffer out = outbound(stream);
        int writes = 0;
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        MemorySegment buf = arena.allocate(4096);
        long skip = filled;
        while (got.size() < ahead.length + stream.length) {
            link.write(out);
            writes++;
            int n = reader.read(buf.address(), 4096);
            if (n > 0) {
                int from = (int) Math.min(skip, n);
                skip -= from;
                got.write(buf.asSlice(from, n - from).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            } else {
                Thread.sleep(1);
            }
        }
        assertTrue(writes > 2, "the socket took the bytes in parts: " + writes + " writes");
        assertTrue(host.watchedOut, "a write the socket could not take whole waited for writability");
        assertArrayEquals(concat(ahead, stream), got.toByteArray(), "the bytes ahead, whole, then the stream");
        assertEquals(stream.length, link.bytesWritten(), "only the stream's bytes counted");
    }

    private ChannelOutboundBuffer outbound(byte[] bytes) {
        ChannelOutboundBuffer out = outboundOwner.unsafe().outboundBuffer();
        ByteBuf direct = Unpooled.directBuffer(bytes.length).writeBytes(bytes);
        out.addMessage(direct, direct.readableBytes(), outboundOwner.newPromise());
        out.addFlush();
        return out;
    }

    private byte[] readExactly(int length) throws Exception {
        MemorySegment buf = arena.allocate(length);
        int got = 0;
        for (int i = 0; i < 2000 && got < length; i++) {
            int n = reader.read(buf.address() + got, length - got);
            if (n > 0) {
                got += n;
            } else {
                Thread.sleep(1);
            }
        }
        return Arrays.copyOf(buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), got);
    }

    private static byte[] pattern(char base, int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (base + i % 7);
        }
        return bytes;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }

    /** What the link sees of a channel: only its readiness interest matters here. */
    private static final class Host implements LinkHost {
        boolean watchedOut;

        @Override
        public EventLoop eventLoop() {
            throw new UnsupportedOperationException();
        }

        @Override
        public VSocketIoHandler ioHandler() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void watch(int ops) {
            watchedOut |= (ops & VSocketIoOps.OUT) != 0;
        }

        @Override
        public void unwatch(int ops) {
        }

        @Override
        public void readReady() {
        }

        @Override
        public void hangUpReady() {
        }

        @Override
        public void flushReady() {
        }

        @Override
        public void flushLater() {
        }

        @Override
        public void socketReadyForChannel(VSocketIoEvent event) {
        }

        @Override
        public void failed(Throwable cause) {
            throw new AssertionError(cause);
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public boolean isInputShutdown() {
            return false;
        }
    }
}
