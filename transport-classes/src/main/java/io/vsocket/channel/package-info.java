/**
 * The Netty transport: {@code VSocketEventLoopGroup}, the stream and datagram channels, the links
 * (rdma, shm, tcp) and the stream protocol. It is built on the verbs bindings of
 * {@code vsocket-transport-native}. What works on which link is in the README's status section.
 */
package io.vsocket.channel;
