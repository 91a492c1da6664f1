package io.vsocket.microbench;

import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.vsocket.examples.redis.RedisServer;
import io.vsocket.lettuce.RedisServerProcess;
import io.vsocket.lettuce.VSocketLettuce;
import io.vsocket.lettuce.VSocketRedisClient;
import io.vsocket.reactor.VSocketLoopResources;
import org.HdrHistogram.Histogram;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.server.HttpServer;
import reactor.netty.resources.ConnectionProvider;
import reactor.netty.resources.LoopResources;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The application benchmark: real frameworks at their default settings, on vsocket and on Netty's
 * epoll in the same run, with the same thread counts (each framework's default groups: Netty's
 * default, twice the cores). Client and server run in this one JVM, so the CPU figure — process CPU
 * time over the measured requests — covers both ends, as it would count on one host.
 *
 * <ul>
 *   <li>{@code grpc-unary}: gRPC-Java blocking unary call, 64 B, gRPC's default executors (the
 *       calling thread waits; the service runs on gRPC's cached pool), byte-array marshaller.
 *   <li>{@code grpc-pingpong}: one bidi stream, the next 64 B message sent from the response
 *       callback, gRPC's default executors (each message crosses to an executor thread and back).
 *   <li>{@code grpc-pp-direct}: the same with {@code directExecutor()} on both sides: callbacks run
 *       on the event loops (the loop-driven case).
 *   <li>{@code http-get}: Reactor Netty HttpClient GET of a 64 B body from HttpServer, keep-alive,
 *       one request at a time from a plain thread ({@code block()}); {@code http2-get} the same over h2c
 *       (HTTP/2 with prior knowledge); {@code http-post} a POST of the payload, which the server streams back;
 *       {@code http-get-newconn} a GET on a new connection each time (Reactor Netty's
 *       {@code ConnectionProvider.newConnection()}: a client without a pool), so connect and close are in each
 *       request.
 *   <li>{@code redis-get}, {@code redis-set}: Lettuce's synchronous GET or SET of a 64 B value, one
 *       at a time from a plain thread, against the example Redis-protocol server (examples' {@code RedisServer}, Netty's
 *       codec-redis) on the same transport; on epoll, Lettuce's own epoll transport.
 *   <li>{@code grpc-unary-load}, {@code http-get-load}, {@code redis-get-load}: the same servers under load, as
 *       throughput is measured — {@link #IN_FLIGHT} requests (32) in flight at all times, each started as one
 *       ends, on the thread that ends it: gRPC's asynchronous unary calls on one channel; Reactor Netty GETs on a
 *       pool of as many keep-alive connections (wrk's way); Lettuce's asynchronous GETs pipelined on its one
 *       connection; {@code http-get-load-tcp}: the GETs from a client on Reactor Netty's own (epoll) loops, as
 *       from any client that is not vsocket, so a vsocket server serves them on its tcp link. Where the
 *       one-at-a-time scenarios measure a request's latency with the machine mostly idle, these keep both cores
 *       busy: requests per second and CPU per request are their figures.
 *   <li>{@code redis-stock-get}, {@code redis-stock-set}: the same against a stock {@code redis-server}
 *       (started on a free loopback port for the measurement): a plain TCP peer, so vsocket's client
 *       runs on its tcp link — the case of every application whose server is not vsocket. The CPU
 *       figure is the client's alone.
 * </ul>
 *
 * <p>Usage: {@code AppComparison [seconds per measurement] [scenario,...] [transport,...] [rounds]};
 * transports are {@code vsocket} (default settings) and {@code epoll}, and {@code vsocket-spin0}
 * (blocks at once), {@code vsocket-ring256k} (the shm ring's default before 1 MiB), {@code vsocket-norestart}
 * (shm writers go round the whole ring) and {@code vsocket-copy} (no receive in place) where asked for. Each transport is measured {@code rounds} times (default 3), in
 * a rotating order, each round in a JVM of its own that warms the scenario up first (see {@link RoundJvm#FORK}),
 * and the medians are reported.
 */
public final class AppComparison {
    /**
     * Each request's and reply's payload: 64 B, or {@code -Dio.vsocket.bench.payloadBytes} (how the larger messages
     * applications also send compare; the scenarios' descriptions say 64 B, their default).
     */
    private static final byte[] PAYLOAD = new byte[Integer.getInteger("io.vsocket.bench.payloadBytes", 64)];

    record Result(String scenario, String transport, long requests, double p50Micros, double p99Micros,
                  double requestsPerSecond, double cpuSecondsPer10k) {
    }

    /** One transport: its groups and channel classes, made fresh for each scenario. */
    interface Transport {
        String name();

        /** Options for the JVM a round of this transport runs in (a setting read when the transport's classes load). */
        default List<String> jvmOptions() {
            return List.of();
        }

        EventLoopGroup newGroup();

        Class<? extends ServerChannel> serverChannel();

        Class<? extends Channel> clientChannel();

        LoopResources loopResources(String prefix);
    }

    record VSocket(String name, Duration spin, List<String> jvmOptions) implements Transport {
        VSocket(String name, Duration spin) {
            this(name, spin, List.of());
        }

        @Override
        public EventLoopGroup newGroup() {
            return spin == null ? new VSocketEventLoopGroup() : new VSocketEventLoopGroup(0, spin);
        }

        @Override
        public Class<? extends ServerChannel> serverChannel() {
            return VSocketServerSocketChannel.class;
        }

        @Override
        public Class<? extends Channel> clientChannel() {
            return VSocketSocketChannel.class;
        }

        @Override
        public LoopResources loopResources(String prefix) {
            return spin == null ? VSocketLoopResources.create(prefix)
                    : VSocketLoopResources.create(prefix, LoopResources.DEFAULT_IO_WORKER_COUNT, true, spin);
        }
    }

    record NettyEpoll(String name) implements Transport {
        @Override
        public EventLoopGroup newGroup() {
            return new MultiThreadIoEventLoopGroup(0, EpollIoHandler.newFactory());
        }

        @Override
        public Class<? extends ServerChannel> serverChannel() {
            return EpollServerSocketChannel.class;
        }

        @Override
        public Class<? extends Channel> clientChannel() {
            return EpollSocketChannel.class;
        }

        @Override
        public LoopResources loopResources(String prefix) {
            return LoopResources.create(prefix); // Reactor Netty's default: epoll where available
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals(RoundJvm.ONE)) {
            // A round in a JVM of its own (see RoundJvm): measured once, its figures printed for the parent.
            Transport t = transports().get(args[3]);
            if (t == null) {
                throw new IllegalArgumentException("unknown or unavailable transport " + args[3]);
            }
            Result r = run(args[2], t, Double.parseDouble(args[1]));
            System.out.printf(Locale.ROOT, "%s %d %f %f %f %f%n", RoundJvm.RESULT, r.requests(), r.p50Micros(),
                    r.p99Micros(), r.requestsPerSecond(), r.cpuSecondsPer10k());
            return;
        }
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        List<String> scenarios = args.length > 1 ? List.of(args[1].split(","))
                : List.of("grpc-unary", "grpc-pingpong", "grpc-pp-direct", "http-get", "redis-get", "redis-set");
        List<String> names = args.length > 2 ? List.of(args[2].split(",")) : List.of("vsocket", "epoll");
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        Map<String, Transport> all = transports();
        List<Transport> transports = names.stream().map(all::get).filter(t -> t != null).toList();
        for (Transport t : transports) {
            if (!RoundJvm.FORK && !t.jvmOptions().isEmpty()) {
                throw new IllegalArgumentException(t.name() + " needs JVMs of its own (" + String.join(" ", t.jvmOptions())
                        + "): run it without -Dio.vsocket.bench.fork=false");
            }
        }
        List<Result> results = new ArrayList<>();
        for (String scenario : scenarios) {
            if (!RoundJvm.FORK) {
                // Warm every transport up once (the JIT compiles the framework's code), then measure in
                // rounds, each starting with the next transport: the first one measured after a switch
                // pays for what the previous one left (compilations, garbage) — a 25% swing in CPU here.
                for (Transport t : transports) {
                    run(scenario, t, Math.min(2, seconds));
                }
            }
            Map<String, List<Result>> byTransport = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < transports.size(); i++) {
                    Transport t = transports.get((i + round) % transports.size());
                    Result r = RoundJvm.FORK ? fork(scenario, t, seconds) : run(scenario, t, seconds);
                    byTransport.computeIfAbsent(t.name(), k -> new ArrayList<>()).add(r);
                    System.err.printf(Locale.ROOT, "  %s %s round %d: p50 %.1f us, cpu %.3f s/10k%n", scenario, t.name(),
                            round + 1, r.p50Micros(), r.cpuSecondsPer10k());
                }
            }
            for (Transport t : transports) {
                results.add(median(byTransport.get(t.name())));
            }
        }
        System.out.printf(Locale.ROOT, "medians of %d rounds of %.1f s%n", rounds, seconds);
        print(results);
    }

    /**
     * How long a round warms up at least before it measures ({@code -Dio.vsocket.bench.warmSeconds}; in one
     * JVM, 200 requests). 10 s in a fresh JVM: after 3 s the JIT still worked through almost all of the 3 s
     * measured (gRPC unary, HTTP GET; 2026-12-05), after 6 s 0.1-0.7 s of it; its time counts in the CPU.
     */
    private static final long WARM_NANOS = RoundJvm.FORK
            ? (long) (Double.parseDouble(System.getProperty("io.vsocket.bench.warmSeconds", "10")) * 1e9) : 0;

    /**
     * How long a round warms up at most ({@code -Dio.vsocket.bench.warmMaxSeconds}): past {@link #WARM_NANOS}
     * it goes on until the JIT settles ({@link WarmUp}). After 10 s the JIT still worked 3-7 s of the 10 s
     * measured in a slow hour (gRPC unary, 2026-12-07), more on some rounds than on others: the rounds'
     * CPU and latency differed by 2x with it.
     */
    private static final long WARM_MAX_NANOS = Math.max(WARM_NANOS, RoundJvm.FORK
            ? (long) (Double.parseDouble(System.getProperty("io.vsocket.bench.warmMaxSeconds", "40")) * 1e9) : 0);

    /**
     * The end of a round's warm-up: {@link #WARM_NANOS} at least, then the first second in which the JIT
     * worked less than {@link #QUIET_JIT_MILLIS} (its compiler threads take the cores the measured threads
     * need, and their time would count in the CPU figure), {@link #WARM_MAX_NANOS} at most. The same rule on
     * every transport. Any thread; {@link #over} from one thread at a time.
     */
    static final class WarmUp {
        /** JIT milliseconds per second of warm-up under which the JIT counts as settled. */
        static final long QUIET_JIT_MILLIS = 50;
        private final java.lang.management.CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        private final long started = System.nanoTime();
        private long nextLook = started + WARM_NANOS;
        private long lastJitMillis = -1;
        private volatile boolean over;

        /** Whether the warm-up is over at {@code now} (looks at the JIT once a second past the minimum). */
        boolean over(long now) {
            if (over || now < nextLook) {
                return over;
            }
            long jitMillis = jit.getTotalCompilationTime();
            if (lastJitMillis >= 0 && jitMillis - lastJitMillis < QUIET_JIT_MILLIS || now - started >= WARM_MAX_NANOS) {
                over = true;
                System.err.printf(Locale.ROOT, "  warmed up for %.1f s (the JIT worked %d ms in its last second)%n",
                        (now - started) / 1e9, lastJitMillis < 0 ? -1 : jitMillis - lastJitMillis);
            }
            lastJitMillis = jitMillis;
            nextLook = now + 1_000_000_000L;
            return over;
        }
    }

    /** Warms a scenario with {@code request}, one at a time: 200 of them at least, then as {@link WarmUp} says. */
    private static void warmUp(Runnable request) {
        WarmUp warm = new WarmUp();
        for (int i = 0; i < 200 || !warm.over(System.nanoTime()); i++) {
            request.run();
        }
    }

    /** One round of {@code scenario} on {@code transport} in a JVM of its own (see {@link RoundJvm}). */
    private static Result fork(String scenario, Transport t, double seconds) throws Exception {
        String transport = t.name();
        String[] f = RoundJvm.run(AppComparison.class, t.jvmOptions(),
                List.of(RoundJvm.ONE, Double.toString(seconds), scenario, transport), line -> {
            if (line.startsWith("  ")) {
                System.err.println(line); // the child's own report
            } else if (!line.isBlank() && !line.startsWith("SLF4J")) {
                System.err.println("  " + scenario + " " + transport + ": " + line);
            }
        });
        return new Result(scenario, transport, Long.parseLong(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]),
                Double.parseDouble(f[3]), Double.parseDouble(f[4]));
    }

    /** The transports by name: vsocket at its defaults, vsocket blocking at once, and epoll where it is available. */
    private static Map<String, Transport> transports() {
        Map<String, Transport> all = new LinkedHashMap<>();
        all.put("vsocket", new VSocket("vsocket", null));
        all.put("vsocket-spin0", new VSocket("vsocket-spin0", Duration.ZERO));
        // The shm ring's default before 2026-12-07 (1 MiB since), to compare the two in one run.
        all.put("vsocket-ring256k", new VSocket("vsocket-ring256k", null, List.of("-Dio.vsocket.ringSize=262144")));
        // Shm writers that go round the whole ring, as before lap restarts (2026-12-07).
        all.put("vsocket-norestart", new VSocket("vsocket-norestart", null, List.of("-Dio.vsocket.shmRestartLaps=false")));
        // Reads copied out of the shm ring, never lent (RECEIVE_IN_PLACE false).
        all.put("vsocket-copy", new VSocket("vsocket-copy", null, List.of("-Dio.vsocket.receiveInPlace=false")));
        if (Epoll.isAvailable()) {
            all.put("epoll", new NettyEpoll("epoll"));
        }
        return all;
    }

    /** Each figure's median over the rounds (requests: their sum). */
    static Result median(List<Result> rounds) {
        Result first = rounds.get(0);
        return new Result(first.scenario(), first.transport(), rounds.stream().mapToLong(Result::requests).sum(),
                median(rounds, Result::p50Micros), median(rounds, Result::p99Micros),
                median(rounds, Result::requestsPerSecond), median(rounds, Result::cpuSecondsPer10k));
    }

    private static double median(List<Result> rounds, java.util.function.ToDoubleFunction<Result> figure) {
        double[] values = rounds.stream().mapToDouble(figure).sorted().toArray();
        int n = values.length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    static Result run(String scenario, Transport t, double seconds) throws Exception {
        return switch (scenario) {
            case "grpc-unary" -> grpcUnary(t, seconds);
            case "grpc-pingpong" -> grpcPingPong(t, seconds, false);
            case "grpc-pp-direct" -> grpcPingPong(t, seconds, true);
            case "http-get" -> httpGet(t, seconds);
            case "http2-get" -> httpOnce(t, seconds, "http2-get", Http.Kind.H2C);
            case "http-post" -> httpOnce(t, seconds, "http-post", Http.Kind.POST);
            case "http-get-newconn" -> httpOnce(t, seconds, "http-get-newconn", Http.Kind.NEW_CONNECTION);
            case "redis-get" -> redis(t, seconds, false);
            case "redis-set" -> redis(t, seconds, true);
            case "grpc-unary-load" -> grpcUnaryLoad(t, seconds);
            case "http-get-load" -> httpGetLoad(t, seconds, false);
            case "http-get-load-tcp" -> httpGetLoad(t, seconds, true);
            case "redis-get-load" -> redisLoad(t, seconds);
            case "redis-stock-get" -> stockRedis(t, seconds, false);
            case "redis-stock-set" -> stockRedis(t, seconds, true);
            default -> throw new IllegalArgumentException("unknown scenario " + scenario);
        };
    }

    // ---- gRPC ----------------------------------------------------------------------------------

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    };
    private static final MethodDescriptor<byte[], byte[]> UNARY = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("bench.Echo/Unary")
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
    private static final MethodDescriptor<byte[], byte[]> BIDI = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.BIDI_STREAMING).setFullMethodName("bench.Echo/Bidi")
            .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

    private static ServerServiceDefinition echoService() {
        return ServerServiceDefinition.builder("bench.Echo")
                .addMethod(UNARY, ServerCalls.asyncUnaryCall((req, out) -> {
                    out.onNext(req);
                    out.onCompleted();
                }))
                .addMethod(BIDI, ServerCalls.asyncBidiStreamingCall(out -> new StreamObserver<byte[]>() {
                    @Override
                    public void onNext(byte[] value) {
                        out.onNext(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                        out.onCompleted();
                    }
                }))
                .build();
    }

    /** A gRPC server and channel on {@code t}'s groups and channel classes, gRPC's defaults otherwise. */
    private record Grpc(EventLoopGroup boss, EventLoopGroup workers, EventLoopGroup clientGroup, Server server,
                        ManagedChannel channel) implements AutoCloseable {
        static Grpc start(Transport t) throws IOException {
            return start(t, false);
        }

        /** {@code direct}: gRPC's {@code directExecutor()} on both sides, callbacks on the event loops. */
        static Grpc start(Transport t, boolean direct) throws IOException {
            EventLoopGroup boss = t.newGroup();
            EventLoopGroup workers = t.newGroup();
            EventLoopGroup clientGroup = t.newGroup();
            NettyServerBuilder serverBuilder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .channelType(t.serverChannel()).bossEventLoopGroup(boss).workerEventLoopGroup(workers)
                    .addService(echoService());
            if (direct) {
                serverBuilder.directExecutor();
            }
            Server server = serverBuilder.build().start();
            NettyChannelBuilder channelBuilder = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort())
                    .usePlaintext().channelType(t.clientChannel()).eventLoopGroup(clientGroup);
            if (direct) {
                channelBuilder.directExecutor();
            }
            ManagedChannel channel = channelBuilder.build();
            return new Grpc(boss, workers, clientGroup, server, channel);
        }

        @Override
        public void close() throws InterruptedException {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            for (EventLoopGroup g : List.of(clientGroup, workers, boss)) {
                g.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            }
        }
    }

    static Result grpcUnary(Transport t, double seconds) throws Exception {
        try (Grpc grpc = Grpc.start(t)) {
            warmUp(() -> ClientCalls.blockingUnaryCall(grpc.channel(), UNARY, CallOptions.DEFAULT, PAYLOAD));
            Meter meter = new Meter();
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                long start = System.nanoTime();
                byte[] reply = ClientCalls.blockingUnaryCall(grpc.channel(), UNARY, CallOptions.DEFAULT, PAYLOAD);
                meter.record(start, reply.length);
            }
            return meter.result("grpc-unary", t.name());
        }
    }

    /** {@link #IN_FLIGHT} unary calls on one channel at all times, each started as one ends (on gRPC's executor). */
    static Result grpcUnaryLoad(Transport t, double seconds) throws Exception {
        try (Grpc grpc = Grpc.start(t)) {
            return closedLoop("grpc-unary-load", t, seconds, () -> {
                ListenableFuture<byte[]> call = ClientCalls.futureUnaryCall(
                        grpc.channel().newCall(UNARY, CallOptions.DEFAULT), PAYLOAD);
                CompletableFuture<Integer> length = new CompletableFuture<>();
                call.addListener(() -> {
                    try {
                        length.complete(Futures.getDone(call).length);
                    } catch (ExecutionException | RuntimeException e) {
                        length.completeExceptionally(e);
                    }
                }, MoreExecutors.directExecutor());
                return length;
            });
        }
    }

    static Result grpcPingPong(Transport t, double seconds, boolean direct) throws Exception {
        try (Grpc grpc = Grpc.start(t, direct)) {
            Meter meter = new Meter();
            CompletableFuture<Void> done = new CompletableFuture<>();
            long warmStart = System.nanoTime();
            WarmUp warm = new WarmUp();
            long[] end = {Long.MAX_VALUE};
            @SuppressWarnings("unchecked")
            StreamObserver<byte[]>[] requests = new StreamObserver[1];
            long[] sent = new long[1];
            boolean[] measuring = new boolean[1];
            requests[0] = ClientCalls.asyncBidiStreamingCall(grpc.channel().newCall(BIDI, CallOptions.DEFAULT),
                    new StreamObserver<>() {
                        @Override
                        public void onNext(byte[] value) {
                            long now = System.nanoTime();
                            if (measuring[0]) {
                                meter.record(sent[0], value.length);
                            } else if (now - warmStart >= 500_000_000L && warm.over(now)) {
                                measuring[0] = true;
                                meter.restart();
                                end[0] = now + (long) (seconds * 1e9);
                            }
                            if (now >= end[0]) {
                                requests[0].onCompleted();
                                return;
                            }
                            sent[0] = System.nanoTime();
                            requests[0].onNext(PAYLOAD);
                        }

                        @Override
                        public void onError(Throwable e) {
                            done.completeExceptionally(e);
                        }

                        @Override
                        public void onCompleted() {
                            done.complete(null);
                        }
                    });
            sent[0] = System.nanoTime();
            requests[0].onNext(PAYLOAD);
            done.get((long) seconds + WARM_MAX_NANOS / 1_000_000_000L + 60, TimeUnit.SECONDS);
            return meter.result(direct ? "grpc-pp-direct" : "grpc-pingpong", t.name());
        }
    }

    // ---- Reactor Netty HTTP ---------------------------------------------------------------------

    /**
     * Reactor Netty's {@code HttpServer} answering GET / with the 64 B payload and an {@code HttpClient} with a pool of
     * {@code connections}, both on {@code t}'s loops — or the client on Reactor Netty's own default loops (epoll)
     * where {@code plainClient}, as any client that is not vsocket, so a vsocket server serves it on its tcp link.
     */
    private record Http(LoopResources loops, LoopResources clientLoops, ConnectionProvider pool, DisposableServer server,
                        HttpClient client, Kind kind) implements AutoCloseable {
        /** What one request is: a keep-alive GET over HTTP/1.1 or h2c, a POST whose body comes back, a GET on a connection of its own. */
        enum Kind { GET, H2C, POST, NEW_CONNECTION }

        static Http start(Transport t, int connections, boolean plainClient) {
            return start(t, connections, plainClient, Kind.GET);
        }

        static Http start(Transport t, int connections, boolean plainClient, Kind kind) {
            LoopResources loops = t.loopResources("bench-" + t.name());
            LoopResources clientLoops = plainClient ? LoopResources.create("bench-client") : loops;
            ConnectionProvider pool = kind == Kind.NEW_CONNECTION ? ConnectionProvider.newConnection()
                    : ConnectionProvider.create("bench", connections);
            HttpServer httpServer = HttpServer.create().host("127.0.0.1").port(0).runOn(loops)
                    .route(r -> r.get("/", (req, res) -> res.sendByteArray(Mono.just(PAYLOAD)))
                            .post("/", (req, res) -> res.send(req.receive().retain())));
            HttpClient client = HttpClient.create(pool).runOn(clientLoops);
            if (kind == Kind.H2C) {
                httpServer = httpServer.protocol(reactor.netty.http.HttpProtocol.H2C);
                client = client.protocol(reactor.netty.http.HttpProtocol.H2C);
            }
            DisposableServer server = httpServer.bindNow();
            return new Http(loops, clientLoops, pool, server, client.host("127.0.0.1").port(server.port()), kind);
        }

        Mono<byte[]> get() {
            if (kind == Kind.POST) {
                return client.post().uri("/").send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(PAYLOAD)))
                        .responseContent().aggregate().asByteArray();
            }
            return client.get().uri("/").responseContent().aggregate().asByteArray();
        }

        @Override
        public void close() {
            server.disposeNow();
            pool.disposeLater().block();
            loops.disposeLater().block();
            if (clientLoops != loops) {
                clientLoops.disposeLater().block();
            }
        }
    }

    static Result httpGet(Transport t, double seconds) throws Exception {
        return httpOnce(t, seconds, "http-get", Http.Kind.GET);
    }

    /**
     * One request at a time of {@code kind} ({@code http2-get}: a GET over h2c, prior knowledge, on one
     * connection; {@code http-post}: a POST of the payload, which the server streams back; {@code
     * http-get-newconn}: a GET on a new connection each time, closed after it, as a client without a pool).
     */
    static Result httpOnce(Transport t, double seconds, String scenario, Http.Kind kind) throws Exception {
        try (Http http = Http.start(t, 1, false, kind)) {
            warmUp(() -> http.get().block());
            Meter meter = new Meter();
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                long start = System.nanoTime();
                byte[] body = http.get().block();
                meter.record(start, body.length);
            }
            return meter.result(scenario, t.name());
        }
    }

    /**
     * {@link #IN_FLIGHT} GETs at all times, each on a keep-alive connection of its own (as wrk's connections);
     * {@code plainClient} as {@link Http#start} says.
     */
    static Result httpGetLoad(Transport t, double seconds, boolean plainClient) throws Exception {
        try (Http http = Http.start(t, IN_FLIGHT, plainClient)) {
            return closedLoop(plainClient ? "http-get-load-tcp" : "http-get-load", t, seconds,
                    () -> http.get().map(b -> b.length).toFuture());
        }
    }

    // ---- Lettuce --------------------------------------------------------------------------------

    /** Lettuce's synchronous GET (or SET, {@code set}) of a 64 B value, one at a time. */
    static Result redis(Transport t, double seconds, boolean set) throws Exception {
        try (ExampleRedis server = ExampleRedis.start(t)) {
            return lettuce(t, seconds, set, server.port(), set ? "redis-set" : "redis-get");
        }
    }

    /** The examples' Redis-protocol server (Netty's codec-redis) on a group of {@code t}'s own. */
    private record ExampleRedis(EventLoopGroup group, RedisServer server) implements AutoCloseable {
        static ExampleRedis start(Transport t) throws Exception {
            EventLoopGroup group = t.newGroup();
            return new ExampleRedis(group,
                    RedisServer.start(group, t.serverChannel(), new InetSocketAddress("127.0.0.1", 0)));
        }

        int port() {
            return server.address().getPort();
        }

        @Override
        public void close() throws Exception {
            server.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** As {@link #redis}, against a stock {@code redis-server} of the measurement's own. */
    static Result stockRedis(Transport t, double seconds, boolean set) throws Exception {
        try (RedisServerProcess redis = RedisServerProcess.start()) {
            return lettuce(t, seconds, set, redis.port(), set ? "redis-stock-set" : "redis-stock-get");
        }
    }

    /**
     * Lettuce's client on {@code t}: vsocket's through the integration's {@code VSocketRedisClient}, Netty's
     * epoll through Lettuce's own choice of native transport. Its resources go with the client.
     */
    private record Lettuce(ClientResources resources, RedisClient client) implements AutoCloseable {
        static Lettuce on(Transport t, int port) {
            boolean vsocket = t instanceof VSocket;
            ClientResources resources = vsocket ? VSocketLettuce.clientResources() : DefaultClientResources.create();
            RedisURI uri = RedisURI.create("redis://127.0.0.1:" + port);
            return new Lettuce(resources,
                    vsocket ? VSocketRedisClient.create(resources, uri) : RedisClient.create(resources, uri));
        }

        StatefulRedisConnection<String, byte[]> connect() {
            return client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
        }

        @Override
        public void close() throws Exception {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(5));
            resources.shutdown(0, 5, TimeUnit.SECONDS).get();
        }
    }

    private static Result lettuce(Transport t, double seconds, boolean set, int port, String scenario) throws Exception {
        try (Lettuce lettuce = Lettuce.on(t, port); StatefulRedisConnection<String, byte[]> connection = lettuce.connect()) {
            RedisCommands<String, byte[]> redis = connection.sync();
            redis.set("key", PAYLOAD);
            // Warmed with the request it measures: SETs measured after GETs ran their code cold, and the
            // JIT compiled the SET path (encoding the value, the server decoding it) through the seconds
            // measured, 1-4 s of each 5 s at 256 KiB and 1 MiB values, on every transport (found in session 48).
            warmUp(set ? () -> redis.set("key", PAYLOAD) : () -> redis.get("key"));
            Meter meter = new Meter();
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                long start = System.nanoTime();
                if (set) {
                    String ok = redis.set("key", PAYLOAD);
                    meter.record(start, "OK".equals(ok) ? PAYLOAD.length : -1);
                } else {
                    meter.record(start, redis.get("key").length);
                }
            }
            return meter.result(scenario, t.name());
        }
    }

    /** {@link #IN_FLIGHT} asynchronous GETs pipelined on Lettuce's one connection, each sent as one ends. */
    static Result redisLoad(Transport t, double seconds) throws Exception {
        try (ExampleRedis server = ExampleRedis.start(t); Lettuce lettuce = Lettuce.on(t, server.port());
             StatefulRedisConnection<String, byte[]> connection = lettuce.connect()) {
            RedisAsyncCommands<String, byte[]> redis = connection.async();
            connection.sync().set("key", PAYLOAD);
            return closedLoop("redis-get-load", t, seconds, () -> redis.get("key").thenApply(b -> b.length));
        }
    }

    // ---- load: many requests in flight ----------------------------------------------------------

    /** Requests in flight at once in the {@code -load} scenarios ({@code -Dio.vsocket.bench.inFlight}). */
    static final int IN_FLIGHT = Integer.getInteger("io.vsocket.bench.inFlight", 32);

    /**
     * A closed loop of {@link #IN_FLIGHT} requests: each one's end (on whatever thread the framework completes
     * it) records its latency and starts the next, as an asynchronous client under load does. Warms up as
     * {@link WarmUp} says, measures {@code seconds} while the loop runs on, then lets every request finish.
     * The figures: p50 and p99 of a request's time in flight, requests per second, CPU per 10,000.
     */
    private static Result closedLoop(String scenario, Transport t, double seconds,
                                     Supplier<CompletionStage<Integer>> request) throws Exception {
        Meter meter = new Meter();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicInteger running = new AtomicInteger(IN_FLIGHT);
        CompletableFuture<Void> drained = new CompletableFuture<>();
        Runnable[] next = new Runnable[1];
        next[0] = () -> {
            if (stop.get()) {
                if (running.decrementAndGet() == 0) {
                    drained.complete(null);
                }
                return;
            }
            long start = System.nanoTime();
            CompletionStage<Integer> reply;
            try {
                reply = request.get();
            } catch (RuntimeException e) { // a request refused at once ends the loop as a failed one does
                reply = CompletableFuture.failedFuture(e);
            }
            reply.whenComplete((length, error) -> {
                if (error == null) {
                    try {
                        synchronized (meter) {
                            meter.record(start, length);
                        }
                    } catch (RuntimeException e) {
                        error = e;
                    }
                }
                if (error != null && failure.compareAndSet(null, error)) {
                    stop.set(true);
                }
                next[0].run();
            });
        };
        for (int i = 0; i < IN_FLIGHT; i++) {
            next[0].run();
        }
        WarmUp warm = new WarmUp();
        while (!warm.over(System.nanoTime()) && failure.get() == null) {
            Thread.sleep(100);
        }
        synchronized (meter) {
            meter.restart();
        }
        Thread.sleep((long) (seconds * 1000));
        Result result;
        synchronized (meter) {
            result = meter.result(scenario, t.name());
        }
        stop.set(true);
        drained.get(30, TimeUnit.SECONDS);
        if (failure.get() != null) {
            throw new IllegalStateException(scenario + " on " + t.name() + " failed", failure.get());
        }
        return result;
    }

    // ---- measurement ----------------------------------------------------------------------------

    /** Latency histogram, request count and process CPU time since the start (or restart). */
    static final class Meter {
        private final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        private final com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        private final java.lang.management.CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        private long startNanos;
        private long startCpu;
        private long startJitMillis;
        private ThreadSchedule schedule;

        Meter() {
            restart();
        }

        void restart() {
            // The threads' snapshot first: reading /proc takes some milliseconds, kept out of the figures.
            schedule = ThreadSchedule.ENABLED ? new ThreadSchedule() : null;
            histogram.reset();
            startNanos = System.nanoTime();
            startCpu = os.getProcessCpuTime();
            startJitMillis = jit.getTotalCompilationTime();
        }

        void record(long sentNanos, int replyLength) {
            if (replyLength != PAYLOAD.length) {
                throw new IllegalStateException("reply of " + replyLength + " bytes");
            }
            histogram.recordValue(System.nanoTime() - sentNanos);
        }

        Result result(String scenario, String transport) {
            double elapsed = (System.nanoTime() - startNanos) / 1e9;
            double cpu = (os.getProcessCpuTime() - startCpu) / 1e9;
            long n = histogram.getTotalCount();
            long jitMillis = jit.getTotalCompilationTime() - startJitMillis;
            if (schedule != null) {
                schedule.print(n, System.err); // after the figures: it measures the machine's speed too
            }
            // Whether the JIT had settled: its time counts in the CPU figure.
            System.err.printf(Locale.ROOT, "  %s %s: the JIT worked %d ms of the %.1f s measured%n", scenario, transport,
                    jitMillis, elapsed);
            return new Result(scenario, transport, n, histogram.getValueAtPercentile(50) / 1000.0,
                    histogram.getValueAtPercentile(99) / 1000.0, n / elapsed, cpu / n * 10_000);
        }
    }

    static void print(List<Result> results) {
        System.out.printf(Locale.ROOT, "%-15s %-14s %9s %10s %10s %10s %12s %10s %10s %10s%n", "scenario", "transport",
                "requests", "p50 us", "p99 us", "req/s", "cpu s/10k", "p50/epoll", "cpu/epoll", "req/epoll");
        for (Result r : results) {
            Result epoll = results.stream().filter(e -> e.scenario().equals(r.scenario()) && e.transport().equals("epoll"))
                    .findFirst().orElse(null);
            System.out.printf(Locale.ROOT, "%-15s %-14s %9d %10.1f %10.1f %10.0f %12.3f %10s %10s %10s%n", r.scenario(),
                    r.transport(), r.requests(), r.p50Micros(), r.p99Micros(), r.requestsPerSecond(), r.cpuSecondsPer10k(),
                    ratio(r, epoll, Result::p50Micros), ratio(r, epoll, Result::cpuSecondsPer10k),
                    ratio(r, epoll, Result::requestsPerSecond));
        }
    }

    /** {@code figure} of {@code r} against epoll's in the same run, or blank without an epoll result. */
    private static String ratio(Result r, Result epoll, ToDoubleFunction<Result> figure) {
        return epoll == null ? "" : String.format(Locale.ROOT, "%.2f", figure.applyAsDouble(r) / figure.applyAsDouble(epoll));
    }
}
