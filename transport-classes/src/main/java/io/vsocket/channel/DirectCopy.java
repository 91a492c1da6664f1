package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;

/** A written buffer that the system calls cannot read in place (heap, or too many pieces), copied into direct memory. */
final class DirectCopy {
    private DirectCopy() {
    }

    /** {@code buf}'s readable bytes in a direct buffer (pooled, or the thread's own); {@code buf} is released. */
    static ByteBuf of(ByteBufAllocator alloc, ByteBuf buf) {
        int readable = buf.readableBytes();
        if (readable == 0) {
            ReferenceCountUtil.release(buf);
            return Unpooled.EMPTY_BUFFER;
        }
        ByteBuf direct = alloc.isDirectBufferPooled() ? alloc.directBuffer(readable) : ByteBufUtil.threadLocalDirectBuffer();
        if (direct == null) {
            direct = alloc.directBuffer(readable);
        }
        direct.writeBytes(buf, buf.readerIndex(), readable);
        ReferenceCountUtil.safeRelease(buf);
        return direct;
    }
}
