package io.vsocket.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.concurrent.FastThreadLocal;
import io.vsocket.buffer.BufferAddress;
import io.vsocket.ffm.libc.iovec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A native array of {@code struct iovec} for one gathering {@code writev}, one per thread (event
 * loops write one channel at a time), filled from the readable bytes of the flushed buffers. It
 * reads each buffer's reader index and never moves it; the outbound buffer advances them after the
 * write by the count the kernel took.
 */
public final class IovArray implements ChannelOutboundBuffer.MessageProcessor {
    /** Linux's IOV_MAX. */
    public static final int MAX = 1024;
    private static final long STRIDE = iovec.sizeof();
    private static final FastThreadLocal<IovArray> PER_THREAD = new FastThreadLocal<>() {
        @Override
        protected IovArray initialValue() {
            return new IovArray();
        }
    };

    private final MemorySegment array = Arena.ofAuto().allocate(iovec.LAYOUT, MAX);
    private int count;
    private long bytes;

    static IovArray get() {
        IovArray iov = PER_THREAD.get();
        iov.count = 0;
        iov.bytes = 0;
        return iov;
    }

    /** Adds the readable bytes of {@code buf} (direct memory); false when the array is full. */
    boolean add(ByteBuf buf) {
        int length = buf.readableBytes();
        if (length == 0) {
            return true;
        }
        long address = BufferAddress.of(buf, buf.readerIndex(), length);
        if (address != 0) {
            return add(address, length);
        }
        ByteBuffer[] parts = buf.nioBuffers(buf.readerIndex(), length);
        if (count + parts.length > MAX) {
            return false;
        }
        for (ByteBuffer part : parts) {
            add(MemorySegment.ofBuffer(part).address(), part.remaining());
        }
        return true;
    }

    private boolean add(long address, int length) {
        if (length == 0) {
            return true;
        }
        if (count == MAX) {
            return false;
        }
        long base = count * STRIDE;
        array.set(JAVA_LONG, base + iovec.iov_base$OFFSET, address);
        array.set(JAVA_LONG, base + iovec.iov_len$OFFSET, length);
        count++;
        bytes += length;
        return true;
    }

    @Override
    public boolean processMessage(Object msg) {
        return msg instanceof ByteBuf buf && add(buf);
    }

    int count() {
        return count;
    }

    long bytes() {
        return bytes;
    }

    MemorySegment segment() {
        return array;
    }
}
