package io.vsocket.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
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
import io.netty.util.concurrent.EventExecutor;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What idle connections cost the active one (issue 14, item 3): the 64-byte echo round trip (p50,
 * p99) of one active connection while 0, 1, 100, 1,000, 10,000 idle connections sit on the same
 * event loop group, both ends of every connection in this JVM on one group of 2 loops (the active
 * pair always across the two loops, as a loop-to-loop ping-pong), for vsocket at its defaults (shm
 * between two channels of one host) and Netty's epoll and NIO for reference. Beside each figure,
 * the loops' CPU over a second with only the idle connections (the active one closed).
 *
 * <p>A point whose connections do not fit the process's descriptor limit runs with as many as fit,
 * and the table says how many ran: a vsocket connection with both ends here takes 4 descriptors
 * (each side its TCP socket and its end of the doorbell; 6 with the eventfd doorbells before
 * 2026-12-05), an epoll or NIO one 2.
 *
 * <p>Usage: {@code IdleComparison [round trips] [idle counts] [transport,...]}, defaults
 * {@code 20000 0,1,100,1000,10000 vsocket,epoll,nio}.
 *
 * <p>Measured on the 2-core build machine (descriptor limit 20,000: 3,280 vsocket connections fit,
 * 9,841 epoll or NIO ones), three runs, vsocket's p50: 1 idle 3.8-7.5 us, 100 idle 3.0-19.3, 1,000
 * idle 92-535, 3,280 idle 460-2,430 (66-640 times the figure at 1; the target is 1.5 times at
 * 10,000), with its loops using 180-1,050 ms of CPU a second while only the idle connections are
 * open; epoll and NIO 6.7-7.8 us at every count (80-90 us in the minutes when this VM's wake-ups are
 * slow), their loops idle at 0-1.5 ms a second. Each shm connection is a poller that every turn of
 * its loop visits, and that every sleep parks; its idle-release timer wakes the loop every second.
 */
public final class IdleComparison {
    private static final InetAddress ADDRESS = InetAddress.getLoopbackAddress();
    /** Descriptors left free for the JVM and the measurement itself. */
    private static final long SPARE_DESCRIPTORS = 300;
    /**
     * Connects in flight at once while the idle connections open. Few: an shm set-up takes a loop 1-2 ms
     * here, and a hello that waits behind too many others passes the client's hello timeout (200 ms) and
     * goes on over tcp (the table counts any that did).
     */
    private static final int CONNECTS_IN_FLIGHT = 8;

    record Transport(String name, IoHandlerFactory factory, Class<? extends ServerChannel> server,
                     Class<? extends Channel> client, int descriptorsPerConnection) {
        EventLoopGroup newGroup() {
            return factory == null ? new VSocketEventLoopGroup(2) : new MultiThreadIoEventLoopGroup(2, factory);
        }
    }

    /** {@code offShm}: idle vsocket connections whose hello did not end on shm (it gave up under load: tcp). */
    record Point(int asked, int idle, double p50Micros, double p99Micros, double idleCpuMillisPerSecond, String activeLink,
                 long offShm) {
    }

    public static void main(String[] args) throws Exception {
        int roundTrips = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        int[] counts = Arrays.stream((args.length > 1 ? args[1] : "0,1,100,1000,10000").split(","))
                .mapToInt(Integer::parseInt).sorted().toArray();
        List<String> names = List.of((args.length > 2 ? args[2] : "vsocket,epoll,nio").split(","));
        List<Transport> transports = new ArrayList<>();
        for (String name : names) {
            switch (name) {
                case "vsocket" -> transports.add(new Transport(name, null, VSocketServerSocketChannel.class,
                        VSocketSocketChannel.class, 4));
                case "epoll" -> {
                    if (Epoll.isAvailable()) {
                        transports.add(new Transport(name, EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                                EpollSocketChannel.class, 2));
                    } else {
                        System.out.println("epoll unavailable: " + Epoll.unavailabilityCause());
                    }
                }
                case "nio" -> transports.add(new Transport(name, NioIoHandler.newFactory(), NioServerSocketChannel.class,
                        NioSocketChannel.class, 2));
                default -> throw new IllegalArgumentException("unknown transport " + name + " (vsocket, epoll, nio)");
            }
        }
        System.out.printf("descriptor limit %d; %d round trips per point%n", descriptorLimit(), roundTrips);
        List<List<Point>> results = new ArrayList<>();
        for (Transport t : transports) {
            results.add(measure(t, roundTrips, counts));
        }
        print(transports, results, counts);
    }

    static List<Point> measure(Transport t, int roundTrips, int[] counts) throws Exception {
        EventLoopGroup group = t.newGroup();
        List<Channel> idle = new ArrayList<>();
        List<Point> points = new ArrayList<>();
        try {
            AtomicReference<EventLoop> activeServerLoop = new AtomicReference<>();
            Channel server = new ServerBootstrap().group(group).channel(t.server())
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ActiveEcho(activeServerLoop))
                    .bind(new InetSocketAddress(ADDRESS, 0)).sync().channel();
            List<Long> loops = loopThreads(group);
            // Warm-up: the JIT compiles the paths before the first point is measured.
            pingPong(t, group, server.localAddress(), activeServerLoop, Math.max(2000, roundTrips / 2), new AtomicReference<>());
            for (int asked : counts) {
                long fit = (descriptorLimit() - openDescriptors() - SPARE_DESCRIPTORS) / t.descriptorsPerConnection();
                int target = (int) Math.min(asked, idle.size() + Math.max(0, fit));
                idle.addAll(open(t, group, server.localAddress(), target - idle.size()));
                AtomicReference<String> activeLink = new AtomicReference<>();
                StreamPingPong result = pingPong(t, group, server.localAddress(), activeServerLoop, roundTrips, activeLink);
                double cpu = cpuMillisOverOneSecond(loops);
                long offShm = idle.stream().filter(c -> c instanceof VSocketSocketChannel v && v.link() != VSocketLink.SHM)
                        .count();
                Point p = new Point(asked, idle.size(), result.histogram.getValueAtPercentile(50) / 1000.0,
                        result.histogram.getValueAtPercentile(99) / 1000.0, cpu, activeLink.get(), offShm);
                points.add(p);
                System.out.printf(Locale.ROOT, "%-8s idle %6d%s: p50 %8.2f us  p99 %8.2f us  idle loops' CPU %6.1f ms/s; "
                                + "active on %s%s%n", t.name(), p.idle(),
                        p.idle() < asked ? " (of " + asked + ": descriptor limit)" : "", p.p50Micros(), p.p99Micros(), cpu,
                        p.activeLink(), t.factory() == null ? ", idle off shm: " + offShm : "");
            }
            server.close().sync();
        } finally {
            for (Channel c : idle) {
                c.close();
            }
            for (Channel c : idle) {
                c.closeFuture().await(10, TimeUnit.SECONDS);
            }
            // The server sides close as their clients' ends arrive: give them a moment before the group goes.
            Thread.sleep(500);
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
        System.out.printf("%-8s done: %d descriptors open after its group ended%n", t.name(), openDescriptors());
        return points;
    }

    /**
     * One active connection's ping-pong, its client on the other loop than its server side (a new
     * connection until it is), then closed.
     */
    private static StreamPingPong pingPong(Transport t, EventLoopGroup group, SocketAddress address,
                                           AtomicReference<EventLoop> activeServerLoop, int roundTrips,
                                           AtomicReference<String> activeLink) throws Exception {
        for (int attempt = 0; attempt < 8; attempt++) {
            StreamPingPong pingPong = new StreamPingPong(Math.max(1000, roundTrips / 5), roundTrips, false);
            // One round trip first tells which loop serves the other end; the rest are measured if it is not this one.
            StreamPingPong probe = new StreamPingPong(0, 1, false);
            activeServerLoop.set(null);
            Channel ch = new Bootstrap().group(group).channel(t.client()).option(ChannelOption.TCP_NODELAY, true)
                    .handler(probe).connect(address).sync().channel();
            try {
                probe.start(ch);
                probe.done.get(1, TimeUnit.MINUTES);
                if (activeServerLoop.get() == ch.eventLoop()) {
                    continue;
                }
                activeLink.set(ch instanceof VSocketSocketChannel v ? v.link().name().toLowerCase(Locale.ROOT) : "tcp");
                ch.pipeline().replace(probe, "pingPong", pingPong);
                pingPong.start(ch);
                pingPong.done.get(10, TimeUnit.MINUTES);
                return pingPong;
            } finally {
                ch.close().sync();
                probe.release();
                pingPong.release();
            }
        }
        throw new IllegalStateException("the active connection's two ends landed on one loop 8 times");
    }

    /** Opens {@code count} connections that stay idle, {@value #CONNECTS_IN_FLIGHT} connects at a time. */
    private static List<Channel> open(Transport t, EventLoopGroup group, SocketAddress address, int count) throws Exception {
        List<Channel> opened = Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Semaphore slots = new Semaphore(CONNECTS_IN_FLIGHT);
        Bootstrap bootstrap = new Bootstrap().group(group).channel(t.client()).handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                // idle: nothing in the pipeline
            }
        });
        for (int i = 0; i < count && failure.get() == null; i++) {
            if (!slots.tryAcquire(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no connect completed in 60 s");
            }
            bootstrap.connect(address).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    opened.add(f.channel());
                } else {
                    failure.compareAndSet(null, f.cause());
                }
                slots.release();
            });
        }
        slots.acquire(CONNECTS_IN_FLIGHT);
        if (failure.get() != null) {
            throw new IllegalStateException("an idle connection failed after " + opened.size(), failure.get());
        }
        return new ArrayList<>(opened);
    }

    /** Echoes what arrives and notes the loop of the server side that read it (only the active connection writes). */
    private static final class ActiveEcho extends ChannelInboundHandlerAdapter {
        private final AtomicReference<EventLoop> loop;

        ActiveEcho(AtomicReference<EventLoop> loop) {
            this.loop = loop;
        }

        @Override
        public boolean isSharable() {
            return true;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            loop.set(ctx.channel().eventLoop());
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }
    }

    private static List<Long> loopThreads(EventLoopGroup group) throws Exception {
        List<Long> ids = new ArrayList<>();
        for (EventExecutor loop : group) {
            ids.add(loop.submit(() -> Thread.currentThread().threadId()).get(5, TimeUnit.SECONDS));
        }
        return ids;
    }

    private static double cpuMillisOverOneSecond(List<Long> threads) throws InterruptedException {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        long before = threads.stream().mapToLong(bean::getThreadCpuTime).sum();
        Thread.sleep(1000);
        return (threads.stream().mapToLong(bean::getThreadCpuTime).sum() - before) / 1e6;
    }

    private static long descriptorLimit() {
        return ((com.sun.management.UnixOperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getMaxFileDescriptorCount();
    }

    private static long openDescriptors() {
        return ((com.sun.management.UnixOperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getOpenFileDescriptorCount();
    }

    static void print(List<Transport> transports, List<List<Point>> results, int[] counts) {
        System.out.printf("%nidle connections beside one active (both ends of each in this JVM, one group of 2 loops)%n");
        System.out.printf("%-8s", "idle");
        for (Transport t : transports) {
            System.out.printf("  %-40s", t.name() + ": p50 / p99 us, idle CPU ms/s");
        }
        System.out.println();
        for (int i = 0; i < counts.length; i++) {
            System.out.printf("%-8d", counts[i]);
            for (int j = 0; j < results.size(); j++) {
                Point p = results.get(j).get(i);
                String notes = (p.idle() < p.asked() ? " (" + p.idle() + " ran)" : "")
                        + (p.offShm() > 0 ? " (" + p.offShm() + " on tcp)" : "")
                        + (transports.get(j).factory() == null && !"shm".equals(p.activeLink())
                                ? " (active on " + p.activeLink() + ")" : "");
                System.out.printf(Locale.ROOT, "  %-40s", String.format(Locale.ROOT, "%.2f / %.2f, %.1f%s", p.p50Micros(),
                        p.p99Micros(), p.idleCpuMillisPerSecond(), notes));
            }
            System.out.println();
        }
        int base = -1;
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == 1) {
                base = i;
            }
        }
        if (base < 0) {
            return;
        }
        System.out.printf("%np50 against the figure at 1 idle connection%n");
        for (int i = 0; i < counts.length; i++) {
            System.out.printf("%-8d", counts[i]);
            for (List<Point> points : results) {
                System.out.printf(Locale.ROOT, "  %-40s", String.format(Locale.ROOT, "x%.2f",
                        points.get(i).p50Micros() / points.get(base).p50Micros()));
            }
            System.out.println();
        }
    }
}
