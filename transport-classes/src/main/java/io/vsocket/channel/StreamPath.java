package io.vsocket.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.vsocket.handshake.LinkNegotiation;
import io.vsocket.handshake.NegotiationHost;
import io.vsocket.link.ConnectionLink;
import io.vsocket.link.TcpConnectionLink;
import io.vsocket.link.VSocketLink;
import io.vsocket.loop.VSocketIoEvent;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;
import io.vsocket.unix.NativeSocket;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.List;

/**
 * What carries a {@link VSocketSocketChannel}'s bytes, and what makes it: the hello while it is under
 * way, the link it picked, the bytes the hello took off the socket that are the application's, a
 * tcp channel's watch for a late offer (with the writes, the output shut-downs and the input shut-down
 * held while that offer's link is made), and its watch for a late hello behind the peer's urgent mark
 * in the middle of the stream (reads stopping at the mark, writes held while a marked choice waits).
 * The channel keeps Netty's semantics (connect, active, the pipeline, half-closure) and asks this
 * which link reads, writes and shuts down; the hello and the links see the channel through this
 * ({@link NegotiationHost}). Loop thread only, but {@link #link()}.
 */
final class StreamPath implements NegotiationHost {
    private final VSocketSocketChannel channel;
    private final NativeSocket socket;
    private final VSocketSocketChannelConfig config;
    /** Non-null while the hello is under way (a late offer's included). */
    private LinkNegotiation negotiation;
    /** Null until the hello has picked the link; kept once closed (it still says which it was). */
    private volatile ConnectionLink link;
    /** Bytes that arrived with the hello but belong to the application (a plain peer spoke first). */
    private ByteBuf pendingInbound;
    /** A channel that went on in tcp without the hello's end: its first inbound bytes may be a late hello. */
    private LinkNegotiation lateHello;
    /** Bytes (or the end of output) went out over tcp while a late hello was watched for: too late to take one. */
    private boolean sentWhileWatching;
    /**
     * A tcp channel whose peer's late hello will come behind an urgent mark in the middle of its stream:
     * the tcp link reads up to the mark, then this hello takes the socket (see {@link LinkNegotiation}).
     */
    private LinkNegotiation markWatch;
    /** Output shut-downs asked for while a late offer's link is being made: done once the held writes went. */
    private final List<ChannelPromise> heldOutputShutdowns = new ArrayList<>(0);
    /** An input shut-down asked for while a late offer's link is being made: done once the link is there. */
    private boolean inputShutdownPending;
    /** The traffic class the client's socket had before its SYN was marked; -1: not marked. */
    private int synMarkedFrom = -1;
    private boolean inboundTaskPending;
    private final Runnable flushTask;

    StreamPath(VSocketSocketChannel channel, NativeSocket socket, VSocketSocketChannelConfig config) {
        this.channel = channel;
        this.socket = socket;
        this.config = config;
        this.flushTask = this::flushFromTask;
    }

    /** The link, once the hello picked it (null before). Any thread. */
    ConnectionLink link() {
        return link;
    }

    /**
     * Whether a close should wait for the link to take the flushed writes first (see {@link
     * ConnectionLink#takesWritesBeforeClose()}): a ring link alone, with no hello or watch under way.
     */
    boolean takesWritesBeforeClose() {
        ConnectionLink c = link;
        return c != null && negotiation == null && markWatch == null && lateHello == null && c.takesWritesBeforeClose();
    }

    /** The hello is under way: it reads the socket for itself, and writes wait for the link. */
    boolean negotiating() {
        return negotiation != null;
    }

    /** The server's side of the hello, once (an accepted channel, as soon as it is registered). */
    void startServer() {
        if (negotiation == null && link == null) {
            negotiation = new LinkNegotiation(this, socket, config);
            negotiation.startServer(channel.parent().linkListeners());
            negotiationInterestChanged();
        }
    }

    /** Before the client's connect: its SYN may carry the hello's mark ({@link LinkNegotiation#markSyn}). */
    void beforeConnect(InetSocketAddress remote) {
        synMarkedFrom = LinkNegotiation.markSyn(socket, config, remote);
    }

    /** The connect failed on an open channel: the socket's own traffic class back, for a later connect. */
    void connectFailed() {
        if (synMarkedFrom >= 0) {
            LinkNegotiation.unmarkSyn(socket, synMarkedFrom);
            synMarkedFrom = -1;
        }
    }

    /**
     * The client's side, once its TCP connection is up: tcp at once when tcp is the only link allowed
     * (then this side never speaks vsocket, and the peer sees a plain client), or tcp at once moving
     * onto shm later when the server is on this host, or tcp at once moving onto the offer's link when
     * it comes (any client that allows tcp), or else the hello before the connect completes.
     */
    void startClient() throws IOException {
        List<VSocketLink> allowed = config.getLinks();
        if (allowed.size() == 1 && allowed.get(0) == VSocketLink.TCP) {
            linkEstablished(new TcpConnectionLink(this, socket, config), null);
            return;
        }
        ConnectionLink upgrading = LinkNegotiation.upgradingClient(this, socket, config, synMarkedFrom);
        if (upgrading != null) {
            // On this host: usable over tcp now, onto shm when the hello completes.
            linkEstablished(upgrading, null);
            return;
        }
        negotiation = new LinkNegotiation(this, socket, config);
        if (LinkNegotiation.startsOnTcp(config)) {
            // Usable over tcp now; the offer, whenever it comes, moves it (behind a mark if it wrote).
            negotiation.startClientOnTcp();
            return;
        }
        negotiation.startClient();
        negotiationInterestChanged();
    }

    @Override
    public void negotiationInterestChanged() {
        if (negotiation != null) {
            int wanted = negotiation.interest();
            channel.clearFlag(~wanted & (VSocketIoOps.IN | VSocketIoOps.RDHUP | VSocketIoOps.PRI | VSocketIoOps.OUT));
            channel.setFlag(wanted);
        }
    }

    /** The hello picked the link: move the data path onto it. */
    @Override
    public void linkEstablished(ConnectionLink established, ByteBuf leftover) {
        establish(established, leftover, null);
    }

    @Override
    public void linkEstablishedWatchingMark(LinkNegotiation watch, ByteBuf leftover) {
        TcpConnectionLink tcp = new TcpConnectionLink(this, socket, config);
        tcp.stopAtMark(true); // before the first read: the client's late choice lies behind its mark
        establish(tcp, leftover, watch);
    }

    /** Moves the data path onto {@code established}; {@code watch}: the peer's late hello to come behind its mark. */
    private void establish(ConnectionLink established, ByteBuf leftover, LinkNegotiation watch) {
        negotiation = null;
        markWatch = watch;
        ConnectionLink before = link;
        if (before != null && before != established) {
            before.close(); // the tcp link a late offer's link replaces (the socket stays: it is the channel's)
        }
        link = established;
        holdInbound(leftover); // (bytes still held from before come first; none are, in the paths known)
        channel.clearFlag(VSocketIoOps.PRI);
        boolean reading = wantsRead();
        if (!channel.isOpen()) {
            established.close();
            if (watch != null) {
                watch.abort();
                markWatch = null;
            }
            if (pendingInbound != null) {
                pendingInbound.release(); // the channel's close went before it: nothing will read it
                pendingInbound = null;
            }
            return;
        }
        established.start(reading);
        if (channel.pathEstablished() && channel.isOpen()) {
            // A client that took a late offer: what it wrote, or shut, while the link was being made.
            if (inputShutdownPending) {
                inputShutdownPending = false;
                try {
                    established.shutdownInput();
                } catch (IOException e) {
                    failed(e);
                    return;
                }
            }
            channel.streamUnsafe().flushNow();
            releaseHeldOutputShutdowns();
        }
        // (Read wanted again: an accepted channel's pipeline was initialised just now, and may have
        // turned auto-read off.)
        if (hasHeldInbound() && wantsRead() && channel.isOpen()) {
            readReady();
        }
    }

    /** A read is wanted: asked for, or auto-read. */
    private boolean wantsRead() {
        return channel.streamUnsafe().readPending || config.isAutoRead();
    }

    /** Inbound bytes already taken off the socket by the hello (epoll will not report them again). */
    private boolean hasHeldInbound() {
        return pendingInbound != null || lateHello != null;
    }

    /** The client gave up on the hello and goes on over tcp, watching for a late offer. */
    @Override
    public void linkEstablishedWatchingLateHello(LinkNegotiation watch) {
        lateHello = watch;
        linkEstablished(new TcpConnectionLink(this, socket, config), null);
    }

    /**
     * A late offer this client can still take (it sent nothing over tcp yet): the hello gets the
     * socket back and makes the link, the channel staying active on tcp meanwhile with its writes
     * held ({@link #linkEstablished} then moves it onto the new link, or leaves it on tcp).
     */
    private void takeLateOffer() {
        negotiation = lateHello;
        lateHello = null;
        LinkNegotiation hello = negotiation;
        hello.upgrade();
        if (negotiation == hello) {
            negotiationInterestChanged();
        }
    }

    @Override
    public void heldInboundReady() {
        if (wantsRead() && channel.isOpen()) {
            readReady();
        }
    }

    @Override
    public void negotiationFailed(Throwable cause) {
        negotiation = null;
        channel.negotiationFailed(cause);
    }

    /** The socket is ready: the hello's, the link's, or (null link) the channel's own business. */
    boolean socketReady(VSocketIoEvent event) {
        ConnectionLink c = link;
        if (negotiation != null) {
            negotiation.ready();
        } else if (c != null) {
            if (markWatch != null) {
                // What is left of the marked hello goes when it can; reading goes on meanwhile (a peer that
                // stops reading while it cannot write would otherwise wait for this side for ever).
                flushMarked();
            }
            c.socketReady(event);
        } else {
            return false;
        }
        return true;
    }

    /** Holds an output shut-down while a late offer's link is made (Netty would fail the held writes). */
    boolean holdOutputShutdown(ChannelPromise promise) {
        if ((negotiation != null || markWatch != null && markWatch.holdsWrites()) && channel.active) {
            heldOutputShutdowns.add(promise);
            return true;
        }
        return false;
    }

    /** Input is shut: what that means for the bytes still coming is the link's business. */
    void shutdownInput() throws IOException {
        if (markWatch != null && markWatch.discardUntilMark()) {
            // The peer's mark is still awaited: the hello reads on (dropping what the application no longer
            // wants) up to it and takes what lies behind; the input is shut on the link it ends with.
            negotiation = markWatch;
            markWatch = null;
            if (link instanceof TcpConnectionLink tcp) {
                tcp.stopAtMark(false);
            }
            negotiationInterestChanged();
        }
        if (negotiation != null) {
            inputShutdownPending = true; // a late offer's link is being made: see linkEstablished
        } else {
            link.shutdownInput();
        }
    }

    void shutdownOutput() throws IOException {
        if (lateHello != null) {
            sentWhileWatching = true;
        }
        link.shutdownOutput();
    }

    void write(ChannelOutboundBuffer in) throws Exception {
        ConnectionLink c = link;
        if (c == null || negotiation != null) {
            // The hello is under way (or a late offer's link is being made): the writes wait in the
            // outbound buffer for the link.
            return;
        }
        if (markWatch != null) {
            if (!flushMarked()) {
                return; // behind a marked hello still going out (the hello watches writability for it)
            }
            if (markWatch != null && markWatch.holdsWrites()) {
                // A client's marked choice awaits its answer: nothing goes till then, so no wake-ups for writability.
                channel.clearFlag(VSocketIoOps.OUT);
                return;
            }
        }
        if (lateHello != null && !in.isEmpty()) {
            sentWhileWatching = true;
        }
        c.write(in);
    }

    /**
     * Sends what is left of the watch's marked hello; true once nothing is (the watch dropped if that
     * was its end: the channel's held writes then go over tcp from a task).
     */
    private boolean flushMarked() {
        LinkNegotiation watch = markWatch;
        try {
            if (!watch.flushMarked()) {
                return false;
            }
        } catch (IOException | RuntimeException e) {
            failed(e);
            return false;
        }
        if (watch.isDone() && markWatch == watch) {
            endMarkWatch();
        }
        return true;
    }

    /** Keeps {@code bytes} (taken over; null: none) for the application, behind what is held already. */
    private void holdInbound(ByteBuf bytes) {
        if (bytes != null) {
            pendingInbound = pendingInbound == null ? bytes : Unpooled.wrappedBuffer(pendingInbound, bytes);
        }
    }

    /** The peer's late hello will not come behind a mark after all: plain reads and writes again. */
    private void endMarkWatch() {
        markWatch = null;
        if (link instanceof TcpConnectionLink tcp) {
            tcp.stopAtMark(false);
        }
        flushLater(); // writes held behind the watch
        releaseHeldOutputShutdowns();
    }

    /** Output shut-downs held while writes waited: done now, after the flush task (the held writes go first). */
    private void releaseHeldOutputShutdowns() {
        if (!heldOutputShutdowns.isEmpty()) {
            ChannelPromise[] held = heldOutputShutdowns.toArray(new ChannelPromise[0]);
            heldOutputShutdowns.clear();
            onChannelLoop(() -> {
                for (ChannelPromise p : held) {
                    channel.shutdownOutputNow(p);
                }
            });
        }
    }

    void stopReading() {
        ConnectionLink c = link;
        if (negotiation != null) {
            // The hello reads for itself (a late offer's link being made under a tcp channel too).
        } else if (c != null) {
            c.readInterest(false);
        } else {
            channel.clearFlag(VSocketIoOps.IN);
        }
    }

    /**
     * The application wants to read; {@code untilEnd}: the link's read interest too (false once the
     * input is shut and nothing more is to be read from it).
     */
    void beginRead(boolean untilEnd) {
        ConnectionLink c = link;
        if (negotiation != null || c == null) {
            // The hello reads for itself; reading for the application starts once the link is known.
            return;
        }
        if ((pendingInbound != null || lateHello != null && lateHello.watchGivenUp()) && !inboundTaskPending) {
            // Bytes already taken off the socket: epoll will not report them, so read them from a task
            // (one at a time, and only if a read is still wanted when it runs). Not for a late-hello
            // watch alone: what it holds is at most the start of a hello, which only more bytes from the
            // socket can finish, and epoll reports those; a task there found nothing and, the read
            // being wanted still, queued the next one, spinning the loop while the server was silent.
            inboundTaskPending = true;
            channel.eventLoop().execute(() -> {
                inboundTaskPending = false;
                if ((pendingInbound != null || lateHello != null) && channel.isOpen() && wantsRead()) {
                    readReady();
                }
            });
        }
        if (untilEnd) {
            c.readInterest(true);
        }
    }

    /**
     * The next unread bytes as they lie in the link's memory (no copy), when the link lends them
     * (the shm link, as the option allows); else null. Never while hello leftovers come first.
     */
    ByteBuf lend(ByteBufAllocator allocator, int max) throws IOException {
        ConnectionLink c = link;
        if (c == null || negotiation != null || lateHello != null || pendingInbound != null) {
            return null;
        }
        return c.lend(allocator, max);
    }

    /** Reads into {@code buf} at its writer index without moving it: the count, 0, or EOF. */
    int read(ByteBuf buf) throws IOException {
        int writable = buf.writableBytes();
        int index = buf.writerIndex();
        if (negotiation != null) {
            return 0; // a late offer's link is being made: the hello reads the socket
        }
        if (lateHello != null) {
            boolean wrote = link instanceof TcpConnectionLink tcp && tcp.bytesWritten() > 0;
            int state = lateHello.watchLateHello(sentWhileWatching, wrote);
            if (state == LinkNegotiation.WATCHING) {
                return 0;
            }
            if (state == LinkNegotiation.WATCH_UPGRADE) {
                takeLateOffer();
                return 0;
            }
            if (state == LinkNegotiation.WATCH_MARK) {
                watchMark();
            } else {
                pendingInbound = lateHello.takeLeftover();
                lateHello = null;
                if (state == LinkNegotiation.WATCH_EOF) {
                    return NativeSocket.EOF;
                }
            }
        }
        if (pendingInbound != null) {
            int n = Math.min(writable, pendingInbound.readableBytes());
            buf.setBytes(index, pendingInbound, pendingInbound.readerIndex(), n);
            pendingInbound.skipBytes(n);
            if (!pendingInbound.isReadable()) {
                pendingInbound.release();
                pendingInbound = null;
            }
            return n;
        }
        ConnectionLink c = link;
        if (c == null) {
            return 0;
        }
        int n = c.read(buf);
        if (markWatch != null && c instanceof TcpConnectionLink tcp) {
            if (tcp.reachedMark()) {
                handOverAtMark(tcp);
                return 0;
            }
            if (n == NativeSocket.EOF) {
                // The peer's stream ended before its mark: no late hello comes; a client's marked choice
                // stays unanswered, and its held writes go over tcp.
                LinkNegotiation watch = markWatch;
                watch.peerEnded();
                if (watch.isDone() && markWatch == watch) {
                    endMarkWatch(); // (else its half-sent choice still goes first: see flushMarked)
                }
            }
        }
        return n;
    }

    /**
     * The late hello will come behind the peer's urgent mark: what the watch read so far is the
     * application's, the tcp link reads up to the mark, and a client answers the offer behind its own.
     */
    private void watchMark() {
        LinkNegotiation watch = lateHello;
        lateHello = null;
        ByteBuf before = watch.takeBytesBeforeMark();
        holdInbound(before);
        markWatch = watch;
        ((TcpConnectionLink) link).stopAtMark(true);
        if (!watch.answerMarked() && markWatch == watch) {
            endMarkWatch(); // answered with tcp (or the channel failed): nothing behind a mark to wait for
        }
    }

    /**
     * The tcp link's reads reached the peer's mark: the hello takes the socket, the channel's writes
     * waiting (they go over the link it makes, or over tcp again). Processed on the next readiness, not
     * inside this read: finishing the hello here would re-enter the channel's read loop.
     */
    private void handOverAtMark(TcpConnectionLink tcp) {
        LinkNegotiation watch = markWatch;
        if (!watch.markReached()) {
            tcp.stopAtMark(true); // the urgent byte has not come yet: read up to the mark again
            return;
        }
        markWatch = null;
        tcp.stopAtMark(false);
        if (watch.isDone()) {
            return; // failed at the mark (the channel is closing)
        }
        negotiation = watch;
        negotiationInterestChanged(); // level-triggered: the bytes behind the mark wake the hello
    }

    /**
     * The channel leaves its loop: true when nothing of the connection stays on it — no hello, no
     * watch for a late one, no task of its own queued, and a link that let go of its loop (see
     * {@link ConnectionLink#leaveLoop()}); a channel never connected has nothing there.
     */
    boolean leaveLoop() {
        if (negotiation != null || lateHello != null || markWatch != null || inboundTaskPending) {
            return false;
        }
        ConnectionLink c = link;
        return c == null || c.leaveLoop();
    }

    /** Registered again after {@link #leaveLoop()}: the link goes on under the channel's loop now. */
    void loopJoined() {
        ConnectionLink c = link;
        if (c != null) {
            c.loopJoined();
        }
    }

    /** Why {@link #leaveLoop()} (or the channel, {@code connecting}) kept the connection on its loop. */
    String whyPinned(boolean connecting) {
        if (connecting || negotiation != null || lateHello != null || markWatch != null) {
            return "its connect or its hello is under way there";
        }
        if (channel.streamUnsafe().closing()) {
            return "it is closing, its last writes going into its ring from there";
        }
        ConnectionLink c = link;
        return c != null && c.kind() == VSocketLink.RDMA
                ? "its rdma link's queue pair completes on that loop's completion queue"
                : "its link is moving onto another or has work queued there";
    }

    /** The channel closes: the hello, what it held, and the link go with it. */
    void close() {
        if (negotiation != null) {
            negotiation.abort();
            negotiation = null;
        }
        if (pendingInbound != null) {
            pendingInbound.release();
            pendingInbound = null;
        }
        if (lateHello != null) {
            lateHello.abort();
            lateHello = null;
        }
        if (markWatch != null) {
            markWatch.abort();
            markWatch = null;
        }
        for (ChannelPromise p : heldOutputShutdowns) {
            p.tryFailure(new ClosedChannelException());
        }
        heldOutputShutdowns.clear();
        ConnectionLink c = link;
        if (c != null) {
            c.close();
        }
    }

    // What the hello and the link see of the channel.

    @Override
    public InetSocketAddress remoteAddress() {
        return channel.remoteAddress();
    }

    @Override
    public EventLoop eventLoop() {
        return channel.eventLoop();
    }

    @Override
    public VSocketIoHandler ioHandler() {
        return channel.ioHandler();
    }

    @Override
    public void watch(int ops) {
        channel.setFlag(ops);
    }

    @Override
    public void unwatch(int ops) {
        channel.clearFlag(ops);
    }

    @Override
    public void readReady() {
        channel.streamUnsafe().inReady();
    }

    @Override
    public void hangUpReady() {
        channel.streamUnsafe().readToEnd();
    }

    @Override
    public void flushReady() {
        channel.streamUnsafe().flushNow();
    }

    @Override
    public void flushLater() {
        channel.eventLoop().execute(flushTask);
    }

    private void flushFromTask() {
        if (!followedChannel(flushTask)) {
            channel.streamUnsafe().flushNow();
        }
    }

    /** Runs {@code task} from a task on the channel's loop, the one it moved to if it moved meanwhile. */
    private void onChannelLoop(Runnable task) {
        channel.eventLoop().execute(new Runnable() {
            @Override
            public void run() {
                if (!followedChannel(this)) {
                    task.run();
                }
            }
        });
    }

    /**
     * A task queued before the channel moved to another loop, running on the loop it left: queued
     * again on the channel's loop now (true); false on the channel's loop, where it runs.
     */
    private boolean followedChannel(Runnable task) {
        EventLoop loop = channel.eventLoop();
        if (loop.inEventLoop()) {
            return false;
        }
        loop.execute(task);
        return true;
    }

    @Override
    public void socketReadyForChannel(VSocketIoEvent event) {
        channel.streamUnsafe().socketReadyForChannel(event);
    }

    @Override
    public void failed(Throwable cause) {
        if (channel.streamUnsafe().failedWhileWriting(cause)) {
            return; // the waiting writes fail with it, as epoll's (see there)
        }
        if (!channel.streamUnsafe().closing()) {
            // (An application that closed hears nothing more, as from epoll's closed socket.)
            channel.pipeline().fireExceptionCaught(cause);
        }
        channel.streamUnsafe().closeNow(); // (a close waiting for the ring too: the link can take nothing more)
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }

    @Override
    public boolean isInputShutdown() {
        return channel.inputShut();
    }

    @Override
    public boolean isClosing() {
        return channel.streamUnsafe().closing();
    }

    @Override
    public String toString() {
        return channel.toString();
    }
}
