package io.vsocket.handshake;

import io.netty.channel.Channel;
import io.netty.channel.IoEventLoop;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.link.LinkHello;
import io.vsocket.link.VSocketLink;

import java.io.IOException;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What a server channel keeps for each link across its connections ({@link LinkHello#openListener},
 * shm's rendezvous): each opened on the first connection that allows its link, once (a link whose
 * listener could not be opened is not offered again), and all closed with the server channel. Any
 * thread: the server channel's children may live on other loops.
 */
public final class LinkListeners {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(LinkListeners.class);

    private final Channel server;
    private final Map<VSocketLink, LinkHello.Listener> open = new EnumMap<>(VSocketLink.class);
    private final Set<VSocketLink> tried = EnumSet.noneOf(VSocketLink.class);
    private boolean closed;
    /** The server's socket saves each SYN (see {@link #saveSyns}). */
    private volatile boolean savesSyns;

    /** For the server channel {@code server}, whose loop watches the listeners. */
    public LinkListeners(Channel server) {
        this.server = server;
    }

    /** {@code hello}'s listener, opened now if this is its first use; null where it has none. */
    synchronized LinkHello.Listener listener(LinkHello hello) {
        VSocketLink link = hello.link();
        if (closed || !tried.add(link)) {
            return open.get(link);
        }
        if (!server.isOpen()) {
            tried.remove(link);
            return null;
        }
        try {
            LinkHello.Listener listener = hello.openListener((IoEventLoop) server.eventLoop());
            if (listener != null) {
                open.put(link, listener);
            }
            return listener;
        } catch (IOException | RuntimeException e) {
            String name = link.name().toLowerCase(Locale.ROOT);
            logger.info("{}: no {} listener, its connections will not use {}: {}", server, name, name, e.toString());
            return null;
        }
    }

    /**
     * Has the server's socket, before it listens, save the SYN of each connection ({@code
     * TCP_SAVE_SYN}), where loopback clients may mark theirs ({@link Hello#SYN_MARK}): their
     * connections' hellos read it at accept. Where the kernel refuses, a marked client (which sends no
     * urgent marker) looks plain to this server: it stays on tcp, and a server-first protocol waits
     * the hello timeout for it.
     */
    public void saveSyns(io.vsocket.unix.NativeSocket socket) {
        // Whatever this side's own flags say (they govern what its clients send): a client's mark
        // must be seen, or it waits as a plain client would.
        try {
            socket.setIntOption(io.vsocket.ffm.libc.LibC.IPPROTO_TCP, io.vsocket.ffm.libc.LibC.TCP_SAVE_SYN, 1,
                    "TCP_SAVE_SYN");
            savesSyns = true;
        } catch (IOException e) {
            logger.debug("{}: SYNs not saved, loopback clients' marks go unseen: {}", server, e.getMessage());
        }
    }

    /** Whether the server's socket saves each SYN ({@link #saveSyns}). */
    boolean savesSyns() {
        return savesSyns;
    }

    /** Whether a listener is open (on the server channel's loop, which it cannot leave). */
    public synchronized boolean anyOpen() {
        return !open.isEmpty();
    }

    /** Closes every listener; none opens after. */
    public synchronized void close() {
        closed = true;
        for (LinkHello.Listener listener : open.values()) {
            listener.close();
        }
        open.clear();
    }
}
