/**
 * The Netty transport's API and its top layer: {@code VSocketEventLoopGroup}, the stream, server and
 * datagram channels, their configs and options, and the link defaults ({@code VSocketLinks}). A
 * stream channel keeps Netty's semantics and drives one {@link io.vsocket.link.ConnectionLink},
 * which the hello ({@link io.vsocket.handshake.LinkNegotiation}) made; a datagram channel drives its
 * {@code DatagramPath}. What works on which link is in the README's status section.
 *
 * <p>The layers, each depending only on those below it: this package; {@code io.vsocket.handshake}
 * (the hello); {@code io.vsocket.datagram} (UD and shm datagrams); {@code io.vsocket.link} with
 * {@code link.shm} and {@code link.rdma} (the links); {@code io.vsocket.stream} (the ring protocol)
 * and {@code io.vsocket.loop} (the event loop); {@code io.vsocket.buffer}; and the native side.
 */
package io.vsocket.channel;
