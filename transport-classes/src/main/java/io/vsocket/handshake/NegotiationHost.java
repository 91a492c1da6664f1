package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.LinkHost;

import java.net.InetSocketAddress;

/** The channel as its hello sees it: a {@link LinkHost} for the link it makes, and where the outcome goes. */
public interface NegotiationHost extends LinkHost {
    /** The hello picked {@code link}; {@code leftover}: bytes that came with the hello but are the application's. */
    void linkEstablished(ConnectionLink link, ByteBuf leftover);

    /** The client gave up on the hello and goes on over tcp, {@code watch} dropping a late offer. */
    void linkEstablishedWatchingLateHello(LinkNegotiation watch);

    /**
     * A server whose client went on over tcp before the offer came: the channel goes on over tcp with
     * {@code leftover} (the client's first bytes) as the application's, reading only up to the client's
     * urgent mark, behind which {@code watch} takes the client's late choice
     * ({@link LinkNegotiation#markReached()}).
     */
    void linkEstablishedWatchingMark(LinkNegotiation watch, ByteBuf leftover);

    /**
     * The late-hello watch let go of bytes it held ({@link LinkNegotiation#watchLateHello}): the channel
     * reads them when its application wants a read (the socket will not report them again).
     */
    void heldInboundReady();

    /** The hello failed: the connection cannot go on. */
    void negotiationFailed(Throwable cause);

    /** The hello's epoll interest ({@link LinkNegotiation#interest()}) changed. */
    void negotiationInterestChanged();

    InetSocketAddress remoteAddress();
}
