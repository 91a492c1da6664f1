/**
 * The vsocket transport for Netty. What an application uses is exported: the channels, their event
 * loop group and options ({@code io.vsocket.channel}), the registered-memory allocator
 * ({@code io.vsocket.buffer}), and the link names and errors ({@code io.vsocket.link}: users name
 * links in {@code VSOCKET_LINKS} and catch {@code VSocketLinkException}; the other public types
 * there are the channels' seam to their links, public for the link packages, not for applications).
 * The event loop, the stream protocol, the hello, the datagram path and each link stay inside.
 */
module io.vsocket.transport {
    requires transitive io.netty.transport;
    requires transitive io.netty.buffer;
    requires transitive io.netty.common;
    requires io.vsocket.ffm;
    requires org.agrona;

    exports io.vsocket.channel;
    exports io.vsocket.buffer;
    exports io.vsocket.link;
}
