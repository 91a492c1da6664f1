package io.vsocket.channel;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelPromise;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;

import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;

/**
 * A client channel's connect while it is under way (the TCP connection, then the hello, since a
 * vsocket connect completes once the link is known): its promise, the address asked for, and the
 * timeout and cancellation that end it early. Loop thread only.
 */
final class PendingConnect {
    private ChannelPromise promise;
    private InetSocketAddress remote;
    private Future<?> timeout;

    boolean isPending() {
        return promise != null;
    }

    /** The address the pending connect asked for. */
    InetSocketAddress remote() {
        return remote;
    }

    void start(ChannelPromise promise, InetSocketAddress remote) {
        this.promise = promise;
        this.remote = remote;
    }

    /**
     * Bounds the connect still pending: after {@code timeoutMillis} (none if not positive) its promise
     * fails and {@code close} runs; a cancelled promise runs {@code close} too.
     */
    void bound(EventLoop loop, int timeoutMillis, Runnable close) {
        ChannelPromise pending = promise;
        if (timeoutMillis > 0) {
            timeout = loop.schedule(() -> {
                ChannelPromise p = promise;
                if (p != null && !p.isDone() && p.tryFailure(new ConnectTimeoutException(
                        "connection timed out after " + timeoutMillis + " ms: " + remote))) {
                    close.run();
                }
            }, timeoutMillis, TimeUnit.MILLISECONDS);
        }
        pending.addListener((ChannelFutureListener) future -> {
            if (future.isCancelled()) {
                take();
                close.run();
            }
        });
    }

    /** The pending connect's promise, now no longer pending (its timeout cancelled); null if none. */
    ChannelPromise take() {
        ChannelPromise p = promise;
        promise = null;
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
        return p;
    }

    /** The channel closed: a connect still pending fails. */
    void close() {
        ChannelPromise p = take();
        if (p != null) {
            p.tryFailure(new ClosedChannelException());
        }
    }
}
