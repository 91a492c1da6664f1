package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32;

/** Small building blocks for the link tests: echo servers, clients, collectors. */
final class Peers {
    private Peers() {
    }

    static ServerBootstrap vsocketServer(EventLoopGroup group, List<VSocketLink> links, ChannelHandler handler) {
        return new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                .childOption(VSocketChannelOption.LINKS, links).childHandler(handler);
    }

    /**
     * A client with {@code links}. Its hello timeout is long (5 s): a test that lets the client fall
     * back to tcp must not have it give up on a vsocket server that a loaded machine makes slow;
     * the tests of giving up set their own.
     */
    static Bootstrap vsocketClient(EventLoopGroup group, List<VSocketLink> links, ChannelHandler handler) {
        return new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                .option(VSocketChannelOption.LINKS, links).option(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .handler(handler);
    }

    /** Writes back what it reads. */
    @ChannelHandler.Sharable
    static final class Echo extends ChannelInboundHandlerAdapter {
        static final Echo INSTANCE = new Echo();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }
    }

    /** Collects bytes until {@code expected} arrived, checksumming them; completes with the CRC. */
    /** Counts what a channel reads, and how it ended: the error, or null for a clean end. */
    static class Watcher extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Throwable> seen = new CompletableFuture<>();
        volatile long received;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            received += ((ByteBuf) msg).readableBytes();
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            seen.complete(cause);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            seen.complete(null);
        }
    }

    static final class Collector extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Long> done = new CompletableFuture<>();
        final CompletableFuture<Throwable> error = new CompletableFuture<>();
        final CompletableFuture<Void> inactive = new CompletableFuture<>();
        private final long expected;
        private final CRC32 crc = new CRC32();
        private final StringBuilder text = new StringBuilder();
        private long received;

        Collector(long expected) {
            this.expected = expected;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                received += buf.readableBytes();
                if (text.length() < 4096) {
                    text.append(buf.toString(java.nio.charset.StandardCharsets.ISO_8859_1));
                }
                crc.update(buf.nioBuffer());
                if (received == expected) {
                    done.complete(crc.getValue());
                } else if (received > expected) {
                    done.completeExceptionally(new AssertionError("received " + received + " > " + expected));
                }
            } finally {
                buf.release();
            }
        }

        String text() {
            return text.toString();
        }

        long received() {
            return received;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            error.complete(cause);
            done.completeExceptionally(cause);
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            inactive.complete(null);
            if (!done.isDone()) {
                done.completeExceptionally(new AssertionError("closed after " + received + " of " + expected + " bytes"));
            }
        }
    }

    /**
     * Starts a thread that writes 4 KiB buffers to {@code channel}, as fast as writability lets it,
     * until it closes; {@code firstFailure} gets the cause of the first write that failed, before
     * the channel's {@code channelInactive}: a write that fails closes the channel after failing its
     * flushed writes, whose listeners run then, on the loop. Each listener is therefore added before
     * its write is handed to the loop. (Added to the future {@code writeAndFlush} returns, it came too
     * late where the loop failed that write first — this thread descheduled just after the call — and
     * Netty then runs a listener added off the loop from a task of the loop's, after the channel had
     * gone inactive: a test that looked once the channel was inactive and this thread had ended could
     * find no failure yet, although the write had failed with the peer's death.)
     */
    static Thread floodWhileActive(Channel channel, java.util.concurrent.atomic.AtomicReference<Throwable> firstFailure) {
        Thread writer = new Thread(() -> {
            while (channel.isActive()) {
                if (channel.isWritable()) {
                    io.netty.channel.ChannelPromise promise = channel.newPromise();
                    promise.addListener(f -> {
                        if (f.cause() != null) {
                            firstFailure.compareAndSet(null, f.cause());
                        }
                    });
                    channel.writeAndFlush(channel.alloc().directBuffer(4096).writeZero(4096), promise);
                } else {
                    Thread.onSpinWait();
                }
            }
        }, "flood-" + channel.id());
        writer.start();
        return writer;
    }

    /**
     * Writes {@code length} bytes of stream {@code seed} in direct buffers of the sizes
     * {@code pieceSize} gives, flushing each, waiting (polling) while the channel is not writable.
     */
    static void sendStream(Channel channel, long seed, long length, java.util.function.IntSupplier pieceSize)
            throws InterruptedException {
        long sent = 0;
        while (sent < length) {
            int size = (int) Math.min(length - sent, pieceSize.getAsInt());
            ByteBuf buf = channel.alloc().directBuffer(size);
            for (int i = 0; i < size; i++) {
                buf.writeByte(streamByte(seed, sent + i));
            }
            sent += size;
            channel.writeAndFlush(buf);
            while (!channel.isWritable() && channel.isActive()) {
                Thread.sleep(1);
            }
        }
    }

    /** Bytes {@code [from, from + length)} of stream {@code seed}, in a direct buffer of {@code channel}'s allocator. */
    static ByteBuf streamPart(Channel channel, long seed, long from, int length) {
        ByteBuf buf = channel.alloc().directBuffer(length);
        for (int i = 0; i < length; i++) {
            buf.writeByte(streamByte(seed, from + i));
        }
        return buf;
    }

    static VSocketLink linkOf(Channel channel) {
        return ((VSocketSocketChannel) channel).link();
    }

    /**
     * The channel's link once it is {@code expected}, or what it is after 10 s: a same-host connection
     * at the default links begins on tcp and moves onto shm when the hello completes (ShmUpgradeLink).
     */
    static VSocketLink awaitLink(Channel channel, VSocketLink expected) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (linkOf(channel) != expected && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        return linkOf(channel);
    }

    /** A deterministic byte stream: byte i of stream {@code seed}. */
    static byte streamByte(long seed, long i) {
        long x = (i + 1) * 0x9E3779B97F4A7C15L ^ seed;
        x ^= x >>> 29;
        return (byte) (x * 0xBF58476D1CE4E5B9L >>> 56);
    }

    static long streamCrc(long seed, long length) {
        CRC32 crc = new CRC32();
        for (long i = 0; i < length; i++) {
            crc.update(streamByte(seed, i));
        }
        return crc.getValue();
    }

    /** Every thread's stack: a stall says where each thread was (the loops, the writers). */
    static String threadDump() {
        StringBuilder out = new StringBuilder();
        Thread.getAllStackTraces().forEach((t, stack) -> {
            out.append(t).append(' ').append(t.getState()).append('\n');
            for (StackTraceElement e : stack) {
                out.append("    at ").append(e).append('\n');
            }
        });
        return out.toString();
    }
}
