package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.FileRegion;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;

/**
 * The tcp link: the connection's socket carries the bytes itself, as Netty's epoll channel does —
 * level-triggered readiness on the channel's own registration, {@code writev} of the flushed
 * buffers, {@code sendfile} for file regions. Also the link of a peer that does not speak vsocket.
 */
public final class TcpConnectionLink implements ConnectionLink {
    private final LinkHost host;
    private final NativeSocket socket;
    private final LinkSettings config;
    private FileRegionWriter regionWriter;
    private boolean inputShutdown;
    /** Bytes of the stream written to the socket so far (where a stream leaves tcp for a ring, see ShmUpgradeLink). */
    private long bytesWritten;
    /** Bytes that go out ahead of the stream's next ones, not part of it (see {@link #sendAhead}); null if none. */
    private ByteBuf ahead;
    /** Reads stop at the peer's urgent mark, behind which a late hello lies (see {@link #stopAtMark}). */
    private boolean stopAtMark;
    private boolean reachedMark;

    public TcpConnectionLink(LinkHost host, NativeSocket socket, LinkSettings config) {
        this.host = host;
        this.socket = socket;
        this.config = config;
    }

    @Override
    public VSocketLink kind() {
        return VSocketLink.TCP;
    }

    @Override
    public void start(boolean reading) {
        if (!reading) {
            host.unwatch(VSocketIoOps.IN);
        }
        // The peer's end is watched whether the application reads or not: epoll's hang-up read takes
        // what is left and the end, auto-read or not (see VSocketSocketChannel's hangUpReady).
        host.watch(VSocketIoOps.RDHUP);
    }

    /**
     * Makes {@code bytes} (direct memory, taken over) go out ahead of the stream's next bytes, in the
     * same {@code writev}: a message of the link's own (the server's shm offer) that its peer takes off
     * the front of the stream, sent without a system call and a TCP segment of its own. Not counted in
     * {@link #bytesWritten()}.
     */
    public void sendAhead(ByteBuf bytes) {
        if (ahead != null) {
            bytes.release();
            throw new IllegalStateException("bytes are already waiting to go ahead of the stream");
        }
        if (BufferAddress.of(bytes, bytes.readerIndex(), bytes.readableBytes()) == 0) {
            ByteBuf direct = Unpooled.directBuffer(bytes.readableBytes()).writeBytes(bytes);
            bytes.release();
            bytes = direct;
        }
        ahead = bytes;
    }

    /** Sends what waits to go ahead of the stream, alone; false if the socket took only part of it (the rest waits). */
    public boolean flushAhead() throws IOException {
        if (ahead == null) {
            return true;
        }
        IovArray iov = IovArray.get();
        iov.add(ahead);
        return aheadWritten(socket.writev(iov.segment(), iov.count()), null);
    }

    /** Writes the bytes ahead with the outbound buffer's first buffers behind them; true once all the bytes ahead went. */
    private boolean writeAhead(ChannelOutboundBuffer in) throws Exception {
        IovArray iov = IovArray.get();
        iov.add(ahead);
        if (in.current() instanceof ByteBuf) {
            in.forEachFlushedMessage(iov);
        }
        return aheadWritten(socket.writev(iov.segment(), iov.count()), in);
    }

    /** {@code written} bytes went: the bytes ahead first, then the stream's from {@code in}. */
    private boolean aheadWritten(long written, ChannelOutboundBuffer in) {
        int aheadBytes = ahead.readableBytes();
        if (written < aheadBytes) {
            ahead.skipBytes((int) Math.max(written, 0));
            host.watch(VSocketIoOps.OUT);
            return false;
        }
        ahead.release();
        ahead = null;
        long stream = written - aheadBytes;
        if (stream > 0) {
            bytesWritten += stream;
            in.removeBytes(stream);
        }
        return true;
    }

    @Override
    public void write(ChannelOutboundBuffer in) throws Exception {
        if (ahead != null && !writeAhead(in)) {
            return;
        }
        int spin = config.getWriteSpinCount();
        while (spin > 0) {
            Object msg = in.current();
            if (msg == null) {
                host.unwatch(VSocketIoOps.OUT);
                return;
            }
            if (msg instanceof FileRegion region) {
                int status = regionWriter().write(in, region, null);
                bytesWritten += regionWriter.lastWritten();
                if (status < 0) {
                    // The socket buffer is full: wait for writability.
                    host.watch(VSocketIoOps.OUT);
                    return;
                }
                spin -= status;
                continue;
            }
            long written;
            long attempted;
            if (in.size() == 1) {
                ByteBuf buf = (ByteBuf) msg;
                attempted = buf.readableBytes();
                if (attempted == 0) {
                    in.remove();
                    continue;
                }
                written = writeBuffer(buf);
            } else {
                // Gathers the buffers at the head, up to a FileRegion if one follows.
                IovArray iov = IovArray.get();
                in.forEachFlushedMessage(iov);
                attempted = iov.bytes();
                if (attempted == 0) {
                    // Only empty buffers at the head: drop them.
                    in.removeBytes(0);
                    continue;
                }
                written = socket.writev(iov.segment(), iov.count());
            }
            if (written > 0) {
                bytesWritten += written;
                in.removeBytes(written);
            }
            if (written < attempted) {
                // The socket buffer is full: wait for writability.
                host.watch(VSocketIoOps.OUT);
                return;
            }
            spin--;
        }
        // Spun out with data left: let other channels run, then continue from a task. Writability
        // interest goes, or a level-triggered EPOLLOUT would wake the loop on every turn from now on.
        host.unwatch(VSocketIoOps.OUT);
        host.flushLater();
    }

    private long writeBuffer(ByteBuf buf) throws IOException {
        int length = buf.readableBytes();
        long address = BufferAddress.of(buf, buf.readerIndex(), length);
        if (address != 0) {
            return socket.write(address, length);
        }
        IovArray iov = IovArray.get();
        iov.add(buf);
        return socket.writev(iov.segment(), iov.count());
    }

    /** Made on the first region: most channels never write one. */
    private FileRegionWriter regionWriter() {
        FileRegionWriter w = regionWriter;
        if (w == null) {
            w = regionWriter = new FileRegionWriter(socket, config);
        }
        return w;
    }

    /**
     * From now on ({@code true}) reads stop at the peer's urgent mark: what lies behind it is a late
     * hello, not the stream's ({@link io.vsocket.unix.NativeSocket#readBeforeMark}, three system calls a
     * read, for as long as the mark is awaited). A read that finds the mark returns 0 and
     * {@link #reachedMark()} says so.
     */
    public void stopAtMark(boolean on) {
        stopAtMark = on;
        reachedMark = false;
    }

    /** Whether a read found the peer's urgent mark (reads stopping there, {@link #stopAtMark}). */
    public boolean reachedMark() {
        return reachedMark;
    }

    /** Reads from the socket: up to the peer's mark if {@link #stopAtMark} asks for it. */
    private int readSocket(long address, int length) throws IOException {
        if (!stopAtMark) {
            return socket.read(address, length);
        }
        int n = socket.readBeforeMark(address, length);
        if (n == NativeSocket.AT_MARK) {
            reachedMark = true;
            return 0;
        }
        return n;
    }

    /** The bytes of the stream this link has written to the socket. */
    public long bytesWritten() {
        return bytesWritten;
    }

    @Override
    public int read(ByteBuf buf) throws IOException {
        return read(buf, buf.writableBytes());
    }

    /** As {@link #read(ByteBuf)}, at most {@code max} bytes (at most the buffer's writable bytes). */
    public int read(ByteBuf buf, int max) throws IOException {
        int writable = Math.min(max, buf.writableBytes());
        int index = buf.writerIndex();
        long address = BufferAddress.of(buf, index, writable);
        if (address != 0) {
            return readSocket(address, writable);
        }
        // A heap or composite buffer: read through a direct scratch and copy.
        ByteBuf scratch = ByteBufUtil.threadLocalDirectBuffer();
        if (scratch == null) {
            scratch = Unpooled.directBuffer(writable);
        }
        try {
            scratch.ensureWritable(writable);
            int n = readSocket(BufferAddress.of(scratch, 0, writable), writable);
            if (n > 0) {
                buf.setBytes(index, scratch, 0, n);
            }
            return n;
        } finally {
            scratch.release();
        }
    }

    @Override
    public void readInterest(boolean wanted) {
        if (!wanted) {
            host.unwatch(VSocketIoOps.IN);
        } else if (!inputShutdown) {
            host.watch(VSocketIoOps.IN | VSocketIoOps.RDHUP);
        } else {
            // Half-closed: one more read reports that everything has been read.
            host.watch(VSocketIoOps.IN);
        }
    }

    @Override
    public void socketReady(VSocketIoEvent event) {
        host.socketReadyForChannel(event);
    }

    @Override
    public void shutdownInput() throws IOException {
        socket.shutdown(true, false);
        host.unwatch(VSocketIoOps.RDHUP);
        inputShutdown = true;
    }

    @Override
    public void shutdownOutput() throws IOException {
        if (!flushAhead()) {
            throw new IOException("could not send the " + ahead.readableBytes() + " bytes due ahead of the stream's end");
        }
        socket.shutdown(false, true);
    }

    @Override
    public void close() {
        // The socket is the link: the channel closes it (with SO_LINGER as set).
        if (ahead != null) {
            ahead.release();
            ahead = null;
        }
        if (regionWriter != null) {
            regionWriter.close();
        }
    }
}
