/**
 * Datagrams other than over UDP, the machinery a datagram channel plugs in:
 * {@link io.vsocket.datagram.UdEndpoint}, one UD (unreliable datagram) queue pair on the event
 * loop's {@link io.vsocket.link.rdma.RdmaContext}, with a registered receive pool the loop's
 * endpoints share; {@link io.vsocket.datagram.UdRoute}, a peer's queue pair with its cached address
 * handle; {@link io.vsocket.datagram.ShmDatagramLink}, datagrams both ways between two channels on
 * one host over a shm link's rings; and {@link io.vsocket.datagram.PeerResolver}, which learns over
 * the channel's own UDP socket a peer's UD endpoint and whether it takes shm, and names the UDP
 * sender of each UD datagram by the token it carries. Everything here runs on the event loop's
 * thread.
 *
 * <p>Depends on {@code io.vsocket.link.rdma}, {@code io.vsocket.link.shm}, {@code io.vsocket.verbs}
 * and the FFM bindings; the channel package depends on this one, never the reverse.
 */
package io.vsocket.datagram;
