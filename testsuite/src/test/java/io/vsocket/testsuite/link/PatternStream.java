package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelProgressiveFuture;
import io.netty.channel.ChannelProgressiveFutureListener;
import io.netty.channel.ChannelProgressivePromise;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.ArrayDeque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * One end of a checked stream both ways. It sends stream {@code sendSeed} ({@link Peers#streamByte}:
 * every byte depends on its position, so a byte from another place or lap of the ring, or a zero,
 * shows as wrong), paced by a 1 ms timer on the channel's loop: up to {@link #CHUNKS_PER_TICK} buffers
 * of {@link #CHUNK} bytes per tick while the channel is writable (and, with a window, while fewer
 * than that many bytes are unanswered: for an echo). It counts what the link took ({@link #sent}, from
 * the writes' progress: bytes published into the peer's ring) and checks every byte it reads against
 * stream {@code receiveSeed}, counting the ones that differ. It holds some of what it reads for a
 * while, as an aggregating decoder would, so that an shm link lends stretches of its ring and
 * announces holes. Every exception and every failed write is recorded; an exception closes the
 * channel.
 */
final class PatternStream extends ChannelInboundHandlerAdapter {
    static final int CHUNK = 16 * 1024;
    static final int CHUNKS_PER_TICK = 2;
    private static final int MAX_HELD = 4;

    private final long sendSeed;
    private final long receiveSeed;
    private final long window;
    private final Random random;
    private final Consumer<ByteBuf> inspect;
    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    private final AtomicLong sent = new AtomicLong();
    private volatile boolean sending = true;
    private volatile long received;
    private volatile long wrong;
    private volatile long firstWrong = -1;
    private long queued;
    private ScheduledFuture<?> ticker;
    final List<Throwable> exceptions = new CopyOnWriteArrayList<>();
    final List<Throwable> writeFailures = new CopyOnWriteArrayList<>();
    final CompletableFuture<ChannelHandlerContext> active = new CompletableFuture<>();
    final CompletableFuture<Void> inactive = new CompletableFuture<>();

    /**
     * {@code window} 0 for none; {@code inspect} sees each buffer read before it is checked (on the
     * loop, once the channel is active), or is null.
     */
    PatternStream(long sendSeed, long receiveSeed, long window, long randomSeed, Consumer<ByteBuf> inspect) {
        this.sendSeed = sendSeed;
        this.receiveSeed = receiveSeed;
        this.window = window;
        this.random = new Random(randomSeed);
        this.inspect = inspect;
    }

    /** Bytes of stream {@code sendSeed} the link took. */
    long sent() {
        return sent.get();
    }

    long received() {
        return received;
    }

    /** Bytes read that were not the byte of stream {@code receiveSeed} at their position. */
    long wrong() {
        return wrong;
    }

    /** Stream position of the first wrong byte, or -1. */
    long firstWrong() {
        return firstWrong;
    }

    /** Writes nothing more from now on (what is queued still goes). */
    void stopSending() {
        sending = false;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ticker = ctx.executor().scheduleAtFixedRate(() -> pump(ctx), 0, 1, TimeUnit.MILLISECONDS);
        active.complete(ctx);
        ctx.fireChannelActive();
    }

    private void pump(ChannelHandlerContext ctx) {
        if (!sending || !ctx.channel().isActive()) {
            return;
        }
        for (int i = 0; i < CHUNKS_PER_TICK && ctx.channel().isWritable()
                && (window == 0 || queued - received < window); i++) {
            ByteBuf buf = ctx.alloc().directBuffer(CHUNK);
            for (int k = 0; k < CHUNK; k++) {
                buf.writeByte(Peers.streamByte(sendSeed, queued + k));
            }
            queued += CHUNK;
            ChannelProgressivePromise promise = ctx.newProgressivePromise();
            promise.addListener(new ChannelProgressiveFutureListener() {
                private long counted;

                @Override
                public void operationProgressed(ChannelProgressiveFuture future, long progress, long total) {
                    sent.addAndGet(progress - counted);
                    counted = progress;
                }

                @Override
                public void operationComplete(ChannelProgressiveFuture future) {
                    if (!future.isSuccess()) {
                        writeFailures.add(future.cause());
                    }
                }
            });
            ctx.write(buf, promise);
        }
        ctx.flush();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf buf = (ByteBuf) msg;
        if (inspect != null) {
            inspect.accept(buf);
        }
        int n = buf.readableBytes();
        int from = buf.readerIndex();
        long at = received;
        long bad = 0;
        for (int i = 0; i < n; i++) {
            if (buf.getByte(from + i) != Peers.streamByte(receiveSeed, at + i)) {
                if (bad == 0 && wrong == 0) {
                    firstWrong = at + i;
                }
                bad++;
            }
        }
        wrong += bad;
        received = at + n;
        if (held.size() < MAX_HELD && random.nextInt(4) == 0) {
            held.add(buf);
        } else {
            buf.release();
        }
        if (!held.isEmpty() && random.nextInt(3) == 0) {
            held.poll().release();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        exceptions.add(cause);
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (ticker != null) {
            ticker.cancel(false);
        }
        ByteBuf buf;
        while ((buf = held.poll()) != null) {
            buf.release();
        }
        inactive.complete(null);
        ctx.fireChannelInactive();
    }

    @Override
    public String toString() {
        return "sent " + sent() + ", received " + received + " (" + wrong + " wrong, first at " + firstWrong
                + "), exceptions " + exceptions + ", failed writes " + writeFailures.size()
                + (writeFailures.isEmpty() ? "" : " (first: " + writeFailures.get(0) + ")");
    }
}
