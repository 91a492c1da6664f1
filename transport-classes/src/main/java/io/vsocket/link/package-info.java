/**
 * The links a stream travels on, and what they share: {@link io.vsocket.link.ConnectionLink}, the
 * object a stream channel drives for its connection (through {@link io.vsocket.link.LinkHost}, what
 * the link sees of its channel); {@link io.vsocket.link.TcpConnectionLink}, the socket itself;
 * {@link io.vsocket.link.RingConnectionLink}, a ring link with the socket as control connection,
 * which {@code link.shm} and {@code link.rdma} make concrete; file regions on any link
 * ({@code FileRegionWriter}, {@link io.vsocket.link.VSocketFileRegions}); and the link names and
 * errors users see ({@link io.vsocket.link.VSocketLink}, {@link io.vsocket.link.VSocketLinkException}).
 */
package io.vsocket.link;
