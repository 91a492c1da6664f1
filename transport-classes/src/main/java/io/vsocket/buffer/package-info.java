/**
 * Buffers the rdma link can send in place: {@link io.vsocket.buffer.RegisteredMemory}, chunks every
 * RDMA device registers once, and {@link io.vsocket.buffer.RegisteredAllocator}, the allocator of
 * vsocket channels on machines with an RDMA device; and {@link io.vsocket.buffer.BufferAddress}, a
 * buffer's native address for the calls that take one.
 */
package io.vsocket.buffer;
