package io.vsocket.buffer;

import io.netty.buffer.ByteBuf;

import java.lang.foreign.MemorySegment;

/** Where a buffer's bytes lie in native memory, for calls that take an address (a system call, a scatter entry). */
public final class BufferAddress {
    private BufferAddress() {
    }

    /**
     * The address of {@code length} bytes of {@code buf} from {@code index}, or 0 when they are not
     * one piece of native memory (a heap or composite buffer). Netty without Unsafe (recent JDKs)
     * gives no memory address; the buffer's own NIO view has it then.
     */
    public static long of(ByteBuf buf, int index, int length) {
        if (buf.hasMemoryAddress()) {
            return buf.memoryAddress() + index;
        }
        return buf.isDirect() && buf.nioBufferCount() == 1
                ? MemorySegment.ofBuffer(buf.internalNioBuffer(index, length)).address() : 0;
    }
}
