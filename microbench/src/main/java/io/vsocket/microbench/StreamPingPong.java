package io.vsocket.microbench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.HdrHistogram.Histogram;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A client's side of a 64-byte echo ping-pong, run inside its event loop (the next request leaves
 * from the handler that received the reply), so it measures the transport, not thread hand-offs.
 * The round trips after the warm-up go into {@link #histogram}; {@link #done} completes after the
 * last.
 */
final class StreamPingPong extends ChannelInboundHandlerAdapter {
    static final int MESSAGE = 64;

    final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
    final CompletableFuture<Void> done = new CompletableFuture<>();
    private final int warmup;
    private final int roundTrips;
    private final boolean startWhenActive;
    private final ByteBuf raw = Unpooled.directBuffer(MESSAGE).writeZero(MESSAGE);
    private final ByteBuf payload = Unpooled.unreleasableBuffer(raw);
    private int pending = MESSAGE;
    private int count;
    private long start;

    /** {@code startWhenActive}: the first request leaves in {@code channelActive}; else on {@link #start}. */
    StreamPingPong(int warmup, int roundTrips, boolean startWhenActive) {
        this.warmup = warmup;
        this.roundTrips = roundTrips;
        this.startWhenActive = startWhenActive;
    }

    /** Sends the first request (from the channel's loop). */
    void start(Channel channel) {
        channel.eventLoop().execute(() -> {
            start = System.nanoTime();
            channel.writeAndFlush(payload.duplicate());
        });
    }

    /** Lets go of the payload once {@link #done}. */
    void release() {
        raw.release();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        if (startWhenActive) {
            send(ctx);
        }
    }

    private void send(ChannelHandlerContext ctx) {
        start = System.nanoTime();
        ctx.writeAndFlush(payload.duplicate());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf buf = (ByteBuf) msg;
        pending -= buf.readableBytes();
        buf.release();
        if (pending > 0) {
            return;
        }
        long now = System.nanoTime();
        if (count++ >= warmup) {
            histogram.recordValue(now - start);
        }
        pending = MESSAGE;
        if (count < warmup + roundTrips) {
            send(ctx);
        } else {
            done.complete(null);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        done.completeExceptionally(cause);
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        done.completeExceptionally(new java.io.IOException("closed after " + count + " round trips"));
    }
}
