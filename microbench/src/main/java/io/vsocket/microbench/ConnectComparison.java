package io.vsocket.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import org.HdrHistogram.Histogram;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Connect to the first echoed byte (issue 13's measure of what the hello costs a new connection):
 * from {@code connect()} to the client's handler holding the echo of the 64 bytes it wrote as soon
 * as the channel was active, one connection at a time, each closed before the next; p50 and p99 over
 * {@code connections}, for vsocket at its default links (shm on one host), vsocket pinned to tcp (the
 * hello skipped: the client speaks plain TCP), and Netty's epoll and NIO, in the same run. Client and
 * server each have their own loop (as two processes would), in this JVM. Every transport is measured
 * in three rounds, in a rotating order, and the medians are reported with vsocket's ratios against
 * epoll, beside the process's CPU time a connection (both sides' loops, the connecting thread, the
 * JIT and the GC: all of it on this machine's two cores).
 *
 * <p>Usage: {@code ConnectComparison [connections per round] [transport,...]}.
 */
public final class ConnectComparison {
    private static final int MESSAGE = 64;
    private static final int ROUNDS = 3;
    /**
     * Connections that warm each transport before its measured round ({@code -Dio.vsocket.bench.warmUp};
     * at least a round's). 40,000, past the JIT's second tier for code that runs once a connection: a
     * method reaches C2 after some 15,000 calls, and a round measured just after 20,000 connections
     * met vsocket's connect path being recompiled (the JIT busy 420-500 ms in a round of 2,000, against
     * 190-260 for epoll; p50 1.1x the warm-up's own). Alone in its JVM (2026-12-05), vsocket's JIT worked
     * 1.5 s over the 10,000 connections after the first 10,000, 0.15-0.4 s over the next ones and 0.07 s
     * after 120,000; with 5,000 in one JVM, vsocket's first round was 1.5x its third's.
     */
    private static final int WARM_UP = Integer.getInteger("io.vsocket.bench.warmUp", RoundJvm.FORK ? 40_000 : 5000);
    /** The whole process's CPU (both loops, the thread that connects, the JIT and the GC) over a round. */
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    /** The compiler's time over a round: whether the JIT had settled (see {@link #WARM_UP}). */
    private static final java.lang.management.CompilationMXBean JIT = java.lang.management.ManagementFactory.getCompilationMXBean();
    private static final InetAddress ADDRESS = InetAddress.getLoopbackAddress();

    record Transport(String name, Supplier<EventLoopGroup> groups, Class<? extends ServerChannel> server,
                     Class<? extends Channel> client, List<VSocketLink> links) {
        ServerBootstrap serverBootstrap(EventLoopGroup group) {
            ServerBootstrap b = new ServerBootstrap().group(group).channel(server)
                    .childOption(ChannelOption.TCP_NODELAY, true);
            return links == null ? b : b.childOption(VSocketChannelOption.LINKS, links);
        }

        Bootstrap bootstrap(EventLoopGroup group) {
            Bootstrap b = new Bootstrap().group(group).channel(client).option(ChannelOption.TCP_NODELAY, true);
            return links == null ? b : b.option(VSocketChannelOption.LINKS, links);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals(RoundJvm.ONE)) {
            measureOne(args[1], Integer.parseInt(args[2]));
            return;
        }
        int connections = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        List<String> only = args.length > 1 ? List.of(args[1].split(",")) : List.of();
        List<Transport> selected = transports().stream().filter(t -> only.isEmpty() || only.contains(t.name())).toList();
        if (!RoundJvm.FORK) {
            for (Transport t : selected) {
                // The JIT, the pools, the descriptor tables warmed for every one. Thousands, not hundreds:
                // a transport whose connect runs more code (vsocket's hello and same-host upgrade) is
                // compiled later, and a short warm-up measured its interpreter (p50 1.3-1.5x epoll's after
                // 400 connections, 1.1x after 18,000, the same hour).
                measure(t, Math.max(WARM_UP, connections));
            }
        }
        List<List<double[]>> rounds = new ArrayList<>();
        for (Transport ignored : selected) {
            rounds.add(new ArrayList<>());
        }
        for (int round = 0; round < ROUNDS; round++) {
            for (int k = 0; k < selected.size(); k++) {
                int i = (k + round) % selected.size(); // rotating order: no transport always runs first
                Transport t = selected.get(i);
                rounds.get(i).add(RoundJvm.FORK ? fork(t.name(), connections) : measure(t, connections));
            }
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "connect to first echoed byte, %d B, %d connections per round, medians of %d rounds%n",
                MESSAGE, connections, ROUNDS);
        System.out.printf(Locale.ROOT, "%-14s %10s %10s %10s %10s %10s %10s%n", "transport", "p50 µs", "p99 µs",
                "p50/epoll", "p99/epoll", "CPU µs", "CPU/epoll");
        double[] epoll = null;
        for (int i = 0; i < selected.size(); i++) {
            if (selected.get(i).name().equals("epoll")) {
                epoll = medians(rounds.get(i));
            }
        }
        for (int i = 0; i < selected.size(); i++) {
            double[] m = medians(rounds.get(i));
            StringBuilder perRound = new StringBuilder();
            for (double[] r : rounds.get(i)) {
                perRound.append(String.format(Locale.ROOT, " %.0f/%.0f", r[0], r[1]));
            }
            System.out.printf(Locale.ROOT, "%-14s %10.1f %10.1f %10s %10s %10.1f %10s   rounds p50/p99:%s%n",
                    selected.get(i).name(), m[0], m[1], ratio(m[0], epoll, 0), ratio(m[1], epoll, 1), m[2],
                    ratio(m[2], epoll, 2), perRound);
        }
    }

    /** A child JVM's: warms {@code transport}, measures one round, and prints its figures for the parent. */
    private static void measureOne(String transport, int connections) throws Exception {
        Transport t = transports().stream().filter(x -> x.name().equals(transport)).findFirst().orElseThrow();
        double[] r = measure(t, Math.max(WARM_UP, connections), connections)[1];
        System.out.printf(Locale.ROOT, "%s %f %f %f%n", RoundJvm.RESULT, r[0], r[1], r[2]);
    }

    /** One round of {@code transport} in a JVM of its own (see {@link RoundJvm}). */
    private static double[] fork(String transport, int connections) throws Exception {
        String[] f = RoundJvm.run(ConnectComparison.class, List.of(RoundJvm.ONE, transport, Integer.toString(connections)), line -> {
            if (line.contains(" connections: ")) {
                System.out.println(line); // the measured round's line (and the warm-up's)
            } else if (!line.isBlank() && !line.startsWith("SLF4J")) {
                System.err.println(transport + ": " + line);
            }
        });
        return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
    }

    private static String ratio(double value, double[] epoll, int at) {
        return epoll == null ? "-" : String.format(Locale.ROOT, "%.2f", value / epoll[at]);
    }

    private static double[] medians(List<double[]> rounds) {
        double[] p50 = rounds.stream().mapToDouble(r -> r[0]).sorted().toArray();
        double[] p99 = rounds.stream().mapToDouble(r -> r[1]).sorted().toArray();
        double[] cpu = rounds.stream().mapToDouble(r -> r[2]).sorted().toArray();
        return new double[] {p50[p50.length / 2], p99[p99.length / 2], cpu[cpu.length / 2]};
    }

    static List<Transport> transports() {
        List<Transport> list = new ArrayList<>();
        list.add(new Transport("vsocket", () -> new VSocketEventLoopGroup(1), VSocketServerSocketChannel.class,
                VSocketSocketChannel.class, null));
        list.add(new Transport("vsocket-tcp", () -> new VSocketEventLoopGroup(1), VSocketServerSocketChannel.class,
                VSocketSocketChannel.class, List.of(VSocketLink.TCP)));
        if (Epoll.isAvailable()) {
            list.add(new Transport("epoll", () -> new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()),
                    EpollServerSocketChannel.class, EpollSocketChannel.class, null));
        }
        list.add(new Transport("nio", () -> new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory()),
                NioServerSocketChannel.class, NioSocketChannel.class, null));
        return list;
    }

    /** {p50, p99, CPU} in microseconds of {@code connections} connects, one after the other. */
    static double[] measure(Transport t, int connections) throws Exception {
        return measure(t, new int[] {connections})[0];
    }

    /**
     * {p50, p99, CPU} of each round of {@code rounds[i]} connects, one after the other, all on one pair
     * of groups and one server (as an application keeps its own: new groups for a round made the JIT
     * recompile for their threads in it, a few hundred milliseconds of every transport's round).
     */
    static double[][] measure(Transport t, int... rounds) throws Exception {
        EventLoopGroup serverGroup = t.groups().get();
        EventLoopGroup clientGroup = t.groups().get();
        double[][] results = new double[rounds.length][];
        try {
            Channel server = t.serverBootstrap(serverGroup).childHandler(new Echo())
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            for (int r = 0; r < rounds.length; r++) {
                results[r] = round(t, clientGroup, server, rounds[r]);
            }
            server.close().sync();
        } finally {
            clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        return results;
    }

    private static double[] round(Transport t, EventLoopGroup clientGroup, Channel server, int connections)
            throws Exception {
        Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        String linkSeen = null;
        long startCpu = OS.getProcessCpuTime();
        long jitMillis = JIT.getTotalCompilationTime();
        for (int i = 0; i < connections; i++) {
            CompletableFuture<Long> echoed = new CompletableFuture<>();
            long start = System.nanoTime();
            Channel client = t.bootstrap(clientGroup).handler(new FirstEcho(echoed))
                    .connect(server.localAddress()).sync().channel();
            long end = echoed.get(10, TimeUnit.SECONDS);
            histogram.recordValue(end - start);
            if (client instanceof VSocketSocketChannel v) {
                linkSeen = String.valueOf(v.link());
            }
            client.close().sync();
        }
        long cpuNanos = OS.getProcessCpuTime() - startCpu;
        jitMillis = JIT.getTotalCompilationTime() - jitMillis;
        double p50 = histogram.getValueAtPercentile(50) / 1000.0;
        double p99 = histogram.getValueAtPercentile(99) / 1000.0;
        double cpu = cpuNanos / 1000.0 / connections;
        System.out.printf(Locale.ROOT, "%-14s %6d connections: p50 %8.1f µs, p99 %8.1f µs, CPU %6.1f µs a connection, "
                + "JIT %5d ms%s%n", t.name(), connections, p50, p99, cpu, jitMillis,
                linkSeen == null ? "" : " (link " + linkSeen + ")");
        return new double[] {p50, p99, cpu};
    }

    /** Writes 64 bytes as soon as the channel is active, and completes with the time the last echoed byte came. */
    private static final class FirstEcho extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<Long> echoed;
        private int received;

        FirstEcho(CompletableFuture<Long> echoed) {
            this.echoed = echoed;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[MESSAGE]));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            received += buf.readableBytes();
            buf.release();
            if (received >= MESSAGE) {
                echoed.complete(System.nanoTime());
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            echoed.completeExceptionally(cause);
            ctx.close();
        }
    }

    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
