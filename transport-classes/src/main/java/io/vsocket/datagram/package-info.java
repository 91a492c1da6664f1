/**
 * Datagrams over UD (unreliable datagram) queue pairs, the machinery a datagram channel plugs in:
 * {@link io.vsocket.datagram.UdEndpoint}, one UD queue pair on the event loop's
 * {@link io.vsocket.link.rdma.RdmaContext}, with a registered receive pool the loop's endpoints
 * share; {@link io.vsocket.datagram.UdRoute}, a peer's queue pair with its cached address handle;
 * and {@link io.vsocket.datagram.UdResolver}, which learns a peer's UD endpoint over the channel's
 * own UDP socket and names the UDP sender of each UD datagram by the token it carries. Everything
 * here runs on the event loop's thread.
 *
 * <p>Depends on {@code io.vsocket.link.rdma}, {@code io.vsocket.verbs} and the FFM bindings; the
 * channel package depends on this one, never the reverse.
 */
package io.vsocket.datagram;
