package io.vsocket.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaPort;
import org.HdrHistogram.Histogram;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The end-to-end tool: a 64-byte echo round trip (p50/p99, HdrHistogram) and 64 KiB streaming
 * throughput over loopback, for vsocket and for Netty's NIO, epoll and io_uring transports in the
 * same run, with vsocket's figures as ratios against the best Netty transport.
 *
 * <p>The ping-pong runs inside the client's event loop (the next request leaves from the handler
 * that received the reply), so it measures the transports, not thread hand-offs.
 *
 * <p>Usage: {@code TransportComparison [round trips] [streaming seconds] [transport,...]}. The
 * system property {@code vsocket.bench.address} sets the address to bind (loopback by default);
 * where that address has an RDMA device (rxe0's 169.254.77.1 in the SoftRoCE VM), the rdma link's
 * variants run too.
 */
public final class TransportComparison {
    private static final int CHUNK = 64 * 1024;
    private static final InetAddress ADDRESS = address();

    private static InetAddress address() {
        try {
            String name = System.getProperty("vsocket.bench.address");
            return name == null ? InetAddress.getLoopbackAddress() : InetAddress.getByName(name);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("vsocket.bench.address: " + e.getMessage(), e);
        }
    }

    /** Spin of the busy-polling vsocket variant: far longer than any wait in a run, so it never blocks. */
    private static final Duration BUSY_POLL = Duration.ofSeconds(1);

    /**
     * One transport under test. vsocket variants pin a link and a spin (null: the group's default),
     * so each link is measured on its own.
     */
    record Transport(String name, IoHandlerFactory factory, Class<? extends ServerChannel> server,
                     Class<? extends Channel> client, VSocketLink link, Duration spin, boolean receiveInPlace) {
        boolean vsocket() {
            return link != null;
        }

        EventLoopGroup newGroup() {
            if (!vsocket()) {
                return new MultiThreadIoEventLoopGroup(1, factory);
            }
            return spin == null ? new VSocketEventLoopGroup(1) : new VSocketEventLoopGroup(1, spin);
        }

        ServerBootstrap serverBootstrap(EventLoopGroup group) {
            ServerBootstrap b = new ServerBootstrap().group(group).channel(server);
            return vsocket() ? b.childOption(VSocketChannelOption.LINKS, List.of(link))
                    .childOption(VSocketChannelOption.RECEIVE_IN_PLACE, receiveInPlace) : b;
        }

        Bootstrap bootstrap(EventLoopGroup group) {
            Bootstrap b = new Bootstrap().group(group).channel(client);
            return vsocket() ? b.option(VSocketChannelOption.LINKS, List.of(link))
                    .option(VSocketChannelOption.RECEIVE_IN_PLACE, receiveInPlace) : b;
        }
    }

    /**
     * {@code gigabytesPerSecond}: into a sink that releases each buffer unread (the transport's
     * ceiling); {@code readingGigabytesPerSecond}: into a sink that reads every byte, as a real
     * consumer does (a buffer lent from the ring is then read where it lies, once).
     */
    record Result(String transport, double p50Micros, double p99Micros, double gigabytesPerSecond,
                  double readingGigabytesPerSecond) {
    }

    public static void main(String[] args) throws Exception {
        int roundTrips = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
        List<String> only = args.length > 2 ? List.of(args[2].split(",")) : List.of();
        List<Transport> selected = transports().stream().filter(t -> only.isEmpty() || only.contains(t.name())).toList();
        // A short pass over every transport first, so the JIT has compiled the shared code (Netty's
        // pipeline, buffers) before any transport is measured, and the first one is not penalised.
        for (Transport t : selected) {
            measure(t, Math.max(2000, roundTrips / 10), 0.3);
        }
        List<Result> results = new ArrayList<>();
        for (Transport t : selected) {
            results.add(measure(t, roundTrips, seconds));
        }
        print(results);
    }

    static List<Transport> transports() {
        List<Transport> list = new ArrayList<>();
        list.add(vsocket("vsocket-shm-busy", VSocketLink.SHM, BUSY_POLL));
        list.add(vsocket("vsocket-shm", VSocketLink.SHM, null));
        list.add(vsocket("vsocket-shm-spin0", VSocketLink.SHM, Duration.ZERO));
        // Every byte copied out of the ring, as before receive-in-place: what the loans are worth.
        list.add(new Transport("vsocket-shm-copy", null, VSocketServerSocketChannel.class, VSocketSocketChannel.class,
                VSocketLink.SHM, null, false));
        if (RdmaPort.of(ADDRESS).isPresent()) {
            list.add(vsocket("vsocket-rdma-busy", VSocketLink.RDMA, BUSY_POLL));
            list.add(vsocket("vsocket-rdma", VSocketLink.RDMA, null));
            list.add(vsocket("vsocket-rdma-spin0", VSocketLink.RDMA, Duration.ZERO));
        }
        list.add(vsocket("vsocket-tcp", VSocketLink.TCP, null));
        list.add(new Transport("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class, NioSocketChannel.class,
                null, null, false));
        if (Epoll.isAvailable()) {
            list.add(new Transport("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                    EpollSocketChannel.class, null, null, false));
        }
        if (IoUring.isAvailable()) {
            list.add(new Transport("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                    IoUringSocketChannel.class, null, null, false));
        }
        return list;
    }

    private static Transport vsocket(String name, VSocketLink link, Duration spin) {
        return new Transport(name, null, VSocketServerSocketChannel.class, VSocketSocketChannel.class, link, spin, true);
    }

    static Result measure(Transport t, int roundTrips, double seconds) throws Exception {
        EventLoopGroup serverGroup = t.newGroup();
        EventLoopGroup clientGroup = t.newGroup();
        try {
            Channel server = t.serverBootstrap(serverGroup)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new Echo())
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            Histogram rtt = pingPong(t, clientGroup, server.localAddress(), roundTrips);
            server.close().sync();

            AtomicLong received = new AtomicLong();
            Channel sink = t.serverBootstrap(serverGroup)
                    .childHandler(new Sink(received, false))
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            double gbps = stream(t, clientGroup, sink.localAddress(), received, seconds);
            sink.close().sync();

            AtomicLong read = new AtomicLong();
            Channel reader = t.serverBootstrap(serverGroup)
                    .childHandler(new Sink(read, true))
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            double readingGbps = stream(t, clientGroup, reader.localAddress(), read, seconds);
            reader.close().sync();
            return new Result(t.name(), rtt.getValueAtPercentile(50) / 1000.0, rtt.getValueAtPercentile(99) / 1000.0, gbps,
                    readingGbps);
        } finally {
            clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** Echoes whatever arrives, flushing once per read burst. */
    static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }
    }

    /**
     * Counts and drops what arrives; {@code reads}: reads every byte first, as a real consumer does
     * (a checksum of longs, kept so the JIT cannot drop the reads).
     */
    private static final class Sink extends ChannelInboundHandlerAdapter {
        private final AtomicLong received;
        private final boolean reads;
        private long checksum;

        Sink(AtomicLong received, boolean reads) {
            this.received = received;
            this.reads = reads;
        }

        @Override
        public boolean isSharable() {
            return !reads; // the checksum is one connection's
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            int n = buf.readableBytes();
            if (reads) {
                long sum = checksum;
                int i = buf.readerIndex();
                int end = i + n;
                for (; i + Long.BYTES <= end; i += Long.BYTES) {
                    sum += buf.getLong(i);
                }
                for (; i < end; i++) {
                    sum += buf.getByte(i);
                }
                checksum = sum;
            }
            received.addAndGet(n);
            buf.release();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (checksum == 42) {
                System.out.print(""); // keeps the sum alive
            }
        }
    }

    private static Histogram pingPong(Transport t, EventLoopGroup group, java.net.SocketAddress address, int roundTrips)
            throws Exception {
        StreamPingPong pingPong = new StreamPingPong(Math.max(1000, roundTrips / 5), roundTrips, true);
        Channel ch = t.bootstrap(group).option(ChannelOption.TCP_NODELAY, true).handler(pingPong)
                .connect(address).sync().channel();
        pingPong.done.get(10, TimeUnit.MINUTES);
        ch.close().sync();
        pingPong.release();
        return pingPong.histogram;
    }

    private static double stream(Transport t, EventLoopGroup group, java.net.SocketAddress address, AtomicLong received,
                                 double seconds) throws Exception {
        // From the channel's own allocator, as an application's buffers would be (on the rdma link,
        // registered memory: sent without a copy).
        ByteBuf[] rawChunk = new ByteBuf[1];
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        long[] window = new long[2];
        Channel ch = t.bootstrap(group)
                .handler(new ChannelInboundHandlerAdapter() {
                    private volatile boolean stop;
                    private ByteBuf chunk;

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        rawChunk[0] = ctx.alloc().directBuffer(CHUNK).writeZero(CHUNK);
                        chunk = Unpooled.unreleasableBuffer(rawChunk[0]);
                        ctx.executor().schedule(() -> {
                            window[0] = System.nanoTime();
                            window[1] = received.get();
                        }, 500, TimeUnit.MILLISECONDS); // after warm-up
                        ctx.executor().schedule(() -> {
                            stop = true;
                            stopped.complete(null);
                        }, 500 + (long) (seconds * 1000), TimeUnit.MILLISECONDS);
                        fill(ctx);
                    }

                    private void fill(ChannelHandlerContext ctx) {
                        while (!stop && ctx.channel().isWritable()) {
                            ctx.write(chunk.duplicate());
                        }
                        ctx.flush();
                    }

                    @Override
                    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                        fill(ctx);
                    }
                })
                .connect(address).sync().channel();
        stopped.get(5, TimeUnit.MINUTES);
        long end = System.nanoTime();
        long bytes = received.get() - window[1];
        ch.close().sync();
        rawChunk[0].release();
        return bytes / ((end - window[0]) / 1e9) / 1e9;
    }

    static void print(List<Result> results) {
        System.out.printf(Locale.ROOT, "%-18s %12s %12s %14s %14s%n", "transport", "rtt p50 us", "rtt p99 us", "64KiB GB/s",
                "read GB/s");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-18s %12.2f %12.2f %14.2f %14.2f%n", r.transport(), r.p50Micros(), r.p99Micros(),
                    r.gigabytesPerSecond(), r.readingGigabytesPerSecond());
        }
        Result bestLatency = results.stream().filter(r -> !r.transport().startsWith("vsocket"))
                .min((a, b) -> Double.compare(a.p50Micros(), b.p50Micros())).orElse(null);
        Result bestThroughput = results.stream().filter(r -> !r.transport().startsWith("vsocket"))
                .max((a, b) -> Double.compare(a.gigabytesPerSecond(), b.gigabytesPerSecond())).orElse(null);
        Result bestReading = results.stream().filter(r -> !r.transport().startsWith("vsocket"))
                .max((a, b) -> Double.compare(a.readingGigabytesPerSecond(), b.readingGigabytesPerSecond())).orElse(null);
        if (bestLatency == null || bestThroughput == null) {
            return;
        }
        System.out.printf(Locale.ROOT, "%nratios against the best Netty transport of this run (p50: %s, throughput: %s)%n",
                bestLatency.transport(), bestThroughput.transport());
        for (Result r : results) {
            if (r.transport().startsWith("vsocket")) {
                System.out.printf(Locale.ROOT, "%-18s p50 x%.3f   throughput x%.2f   reading x%.2f%n", r.transport(),
                        r.p50Micros() / bestLatency.p50Micros(), r.gigabytesPerSecond() / bestThroughput.gigabytesPerSecond(),
                        r.readingGigabytesPerSecond() / bestReading.readingGigabytesPerSecond());
            }
        }
    }
}
