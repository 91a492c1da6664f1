package io.vsocket.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.util.concurrent.ScheduledFuture;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.loop.VSocketIoHandler;
import org.HdrHistogram.Histogram;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Datagrams, end to end: a 64-byte round trip (p50/p99; the next datagram leaves from the handler
 * that received the echo, so it measures the transports, not thread hand-offs) and the rate one
 * sender reaches a receiver at (datagrams received per second, 64 bytes each), for vsocket's
 * datagram channel and Netty's NIO and epoll ones in the same run, with ratios against NIO.
 *
 * <p>Usage: {@code DatagramComparison [round trips] [rate seconds] [transport,...] [address]};
 * transports: {@code vsocket} (defaults: both ends are on this host, so shm), {@code vsocket-busy}
 * (busy-polling loops), {@code vsocket-noshm} and {@code vsocket-noshm-busy} (shm off: UD where a
 * device serves the address, else UDP), {@code nio}, {@code epoll}. Both ends bind the address (or
 * {@code vsocket.bench.address}; loopback by default): rxe0's in the SoftRoCE VM puts vsocket's
 * datagrams on UD when shm is off.
 */
public final class DatagramComparison {
    private static final int MESSAGE = 64;
    /** A round trip not answered in this long is taken as lost and sent again (UDP and UD may drop). */
    private static final long RESEND_MILLIS = 200;

    /** {@code shm}: whether vsocket's channels may carry datagrams over shared memory (both ends are on this host). */
    record Transport(String name, IoHandlerFactory factory, Class<? extends Channel> channel, boolean shm) {
        Transport(String name, IoHandlerFactory factory, Class<? extends Channel> channel) {
            this(name, factory, channel, true);
        }

        /** A bootstrap of this transport's channel on {@code group}. */
        Bootstrap bootstrap(EventLoopGroup group) {
            Bootstrap b = new Bootstrap().group(group).channel(channel);
            return channel == VSocketDatagramChannel.class ? b.option(VSocketChannelOption.DATAGRAM_SHM, shm) : b;
        }
    }

    /** What a vsocket channel carried other than over UDP. */
    private static long carried(VSocketDatagramChannel v) {
        return v.udDatagramsSent() + v.shmDatagramsSent();
    }

    record Result(String name, double p50, double p99, long lost, double rate, String ud) {
    }

    public static void main(String[] args) throws Exception {
        // Netty would pick SLF4J, which has no binding here and drops everything: warnings matter.
        io.netty.util.internal.logging.InternalLoggerFactory.setDefaultFactory(
                io.netty.util.internal.logging.JdkLoggerFactory.INSTANCE);
        int roundTrips = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        int rateSeconds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        List<String> wanted = args.length > 2 ? List.of(args[2].split(",")) : List.of("vsocket", "nio", "epoll");
        InetAddress address = InetAddress.getByName(args.length > 3 ? args[3] : System.getProperty("vsocket.bench.address",
                InetAddress.getLoopbackAddress().getHostAddress()));
        List<Transport> transports = new ArrayList<>();
        for (String name : wanted) {
            switch (name) {
                case "vsocket" -> transports.add(new Transport(name, VSocketIoHandler.newFactory(), VSocketDatagramChannel.class));
                // Busy-polling: the loops never block, so no wake-up is in the figure (a core per loop).
                case "vsocket-busy" -> transports.add(new Transport(name,
                        VSocketIoHandler.newFactory(java.time.Duration.ofSeconds(1)), VSocketDatagramChannel.class));
                case "vsocket-noshm" -> transports.add(new Transport(name, VSocketIoHandler.newFactory(),
                        VSocketDatagramChannel.class, false));
                case "vsocket-noshm-busy" -> transports.add(new Transport(name,
                        VSocketIoHandler.newFactory(java.time.Duration.ofSeconds(1)), VSocketDatagramChannel.class, false));
                case "nio" -> transports.add(new Transport(name, NioIoHandler.newFactory(), NioDatagramChannel.class));
                case "epoll" -> {
                    if (Epoll.isAvailable()) {
                        transports.add(new Transport(name, EpollIoHandler.newFactory(), EpollDatagramChannel.class));
                    }
                }
                default -> throw new IllegalArgumentException("unknown transport " + name);
            }
        }
        List<Result> results = new ArrayList<>();
        for (Transport t : transports) {
            results.add(measure(t, address, roundTrips, rateSeconds));
        }
        Result base = results.stream().filter(r -> r.name().equals("nio")).findFirst().orElse(results.get(0));
        System.out.printf(Locale.ROOT, "%d-byte datagrams on %s, %d round trips, rate over %d s%n", MESSAGE,
                address.getHostAddress(), roundTrips, rateSeconds);
        System.out.printf(Locale.ROOT, "%-12s %10s %10s %8s %14s %10s %10s%n", "transport", "p50 us", "p99 us", "lost",
                "datagrams/s", "p50/" + base.name(), "rate/" + base.name());
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-12s %10.1f %10.1f %8d %14.0f %10.2f %10.2f  %s%n", r.name(), r.p50(), r.p99(),
                    r.lost(), r.rate(), r.p50() / base.p50(), r.rate() / base.rate(), r.ud());
        }
    }

    private static Result measure(Transport t, InetAddress address, int roundTrips, int rateSeconds) throws Exception {
        EventLoopGroup serverGroup = new MultiThreadIoEventLoopGroup(1, t.factory());
        EventLoopGroup clientGroup = new MultiThreadIoEventLoopGroup(1, t.factory());
        try {
            Channel echo = t.bootstrap(serverGroup)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            DatagramPacket p = (DatagramPacket) msg;
                            ctx.write(new DatagramPacket(p.content(), p.sender()));
                        }

                        @Override
                        public void channelReadComplete(ChannelHandlerContext ctx) {
                            ctx.flush();
                        }
                    }).bind(new InetSocketAddress(address, 0)).sync().channel();
            PingPong pingPong = new PingPong((InetSocketAddress) echo.localAddress(), roundTrips);
            Channel client = t.bootstrap(clientGroup).handler(pingPong)
                    .bind(new InetSocketAddress(address, 0)).sync().channel();
            client.eventLoop().execute(pingPong::start);
            Histogram h = pingPong.done.get(5, TimeUnit.MINUTES);
            String ud = "";
            if (client instanceof VSocketDatagramChannel v) {
                long overUd = client.eventLoop().submit(v::udDatagramsSent).get();
                long overShm = client.eventLoop().submit(v::shmDatagramsSent).get();
                ud = overShm + "/" + pingPong.sent + " over shm, " + overUd + " over UD";
            }
            client.close().sync();
            echo.close().sync();
            double[] rate = new double[1];
            String rateUd = rate(t, serverGroup, clientGroup, address, rateSeconds, rate);
            return new Result(t.name(), h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
                    pingPong.lost, rate[0], t.channel() == VSocketDatagramChannel.class ? ud + "; rate: " + rateUd : "");
        } finally {
            clientGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
            serverGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * Datagrams per second a receiver takes from one sender that writes as fast as its channel lets
     * it, into {@code rate[0]}; returns how many the sender sent over UD (vsocket).
     */
    private static String rate(Transport t, EventLoopGroup serverGroup, EventLoopGroup clientGroup, InetAddress address,
            int seconds, double[] rate) throws Exception {
        AtomicLong received = new AtomicLong();
        Channel sink = t.bootstrap(serverGroup)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(2048))
                .option(ChannelOption.SO_RCVBUF, 4 << 20)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ((DatagramPacket) msg).release();
                        received.incrementAndGet();
                    }
                }).bind(new InetSocketAddress(address, 0)).sync().channel();
        InetSocketAddress to = (InetSocketAddress) sink.localAddress();
        Channel source = t.bootstrap(clientGroup)
                .handler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress(address, 0)).sync().channel();
        if (source instanceof VSocketDatagramChannel v) {
            // Resolve the sink first, one datagram at a time: a flood's first request waits behind the
            // flood in the sink's socket and may time out (the peer then stays on UDP for a backoff);
            // a long-lived flow is measured here, not its first second.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (source.eventLoop().submit(() -> carried(v)).get() == 0 && System.nanoTime() < deadline) {
                source.writeAndFlush(new DatagramPacket(source.alloc().directBuffer(MESSAGE).writeZero(MESSAGE), to)).sync();
                Thread.sleep(20);
            }
        }
        long[] window = new long[2];
        Runnable[] pump = new Runnable[1];
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds + 1);
        pump[0] = () -> {
            // A burst per turn, then yield the loop to itself: the loop also has to drain the socket's completions.
            for (int i = 0; i < 64 && source.isWritable(); i++) {
                ByteBuf b = source.alloc().directBuffer(MESSAGE).writeZero(MESSAGE);
                source.write(new DatagramPacket(b, to));
            }
            source.flush();
            if (System.nanoTime() - end < 0) {
                source.eventLoop().execute(pump[0]);
            }
        };
        source.eventLoop().execute(pump[0]);
        Thread.sleep(1000);
        window[0] = received.get();
        long t0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        window[1] = received.get();
        double elapsed = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(1100);
        String ud = "";
        if (source instanceof VSocketDatagramChannel v) {
            long overUd = source.eventLoop().submit(v::udDatagramsSent).get();
            long overShm = source.eventLoop().submit(v::shmDatagramsSent).get();
            VSocketDatagramChannel s = (VSocketDatagramChannel) sink;
            long in = sink.eventLoop().submit(() -> s.udDatagramsReceived() + s.shmDatagramsReceived()).get();
            ud = overShm + " sent over shm, " + overUd + " over UD, " + in + " received over either, " + received.get()
                    + " received in all";
        }
        source.close().sync();
        sink.close().sync();
        rate[0] = (window[1] - window[0]) / elapsed;
        return ud;
    }

    /** The client side of the round trip: sends the next datagram from the handler that received the echo. */
    private static final class PingPong extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Histogram> done = new CompletableFuture<>();
        private final InetSocketAddress server;
        private final int measured;
        private final int warmUp;
        private final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        private Channel channel;
        private int count;
        private long sentAt;
        private long sequence;
        long sent;
        private long lost;
        private ScheduledFuture<?> resend;

        PingPong(InetSocketAddress server, int measured) {
            this.server = server;
            this.measured = measured;
            this.warmUp = Math.max(1000, measured / 5);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            ctx.fireChannelActive();
        }

        void start() {
            send();
        }

        private void send() {
            ByteBuf b = channel.alloc().directBuffer(MESSAGE).writeLong(++sequence).writeZero(MESSAGE - 8);
            sentAt = System.nanoTime();
            sent++;
            channel.writeAndFlush(new DatagramPacket(b, server));
            if (resend != null) {
                resend.cancel(false);
            }
            long expected = sequence;
            resend = channel.eventLoop().schedule(() -> {
                if (sequence == expected) {
                    lost++;
                    send();
                }
            }, RESEND_MILLIS, TimeUnit.MILLISECONDS);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            DatagramPacket p = (DatagramPacket) msg;
            long seq = p.content().getLong(p.content().readerIndex());
            p.release();
            if (seq != sequence) {
                return; // the echo of a datagram taken for lost
            }
            long rtt = System.nanoTime() - sentAt;
            if (++count > warmUp) {
                histogram.recordValue(rtt);
            }
            if (count >= warmUp + measured) {
                resend.cancel(false);
                done.complete(histogram);
                return;
            }
            send();
        }
    }
}
