/**
 * The event loop: {@link io.vsocket.loop.VSocketIoHandler}, Netty's {@code IoHandler} for vsocket —
 * one epoll set for the descriptors, user-space pollers it spins on before it blocks
 * ({@link io.vsocket.loop.VSocketLoopPoller}: completion queues, shm rings), and services the layers
 * above keep per loop without the loop knowing them (the rdma contexts); its idle policy
 * ({@code SpinWindow}, {@code FreeCores}). Knows nothing of channels or links.
 */
package io.vsocket.loop;
