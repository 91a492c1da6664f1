package io.vsocket.testsuite.datagram;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import io.netty.resolver.HostsFileEntriesResolver;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.DnsNameResolverTimeoutException;
import io.netty.resolver.dns.NoopDnsCache;
import io.netty.resolver.dns.SingletonDnsServerAddressStreamProvider;
import io.netty.util.concurrent.Future;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Netty's DNS resolver, the datagram application most Netty programs run without knowing it (Reactor
 * Netty's and Lettuce's default resolvers are built on it), on vsocket's datagram channel: hundreds of
 * lookups at once, each answer checked, against a DNS server on Netty's NIO datagram channel (plain
 * UDP) and on vsocket's (the peers then find each other and move onto shared memory); a truncated
 * answer retried over TCP on vsocket's stream channel, as the resolver does; an unknown name; and a
 * server that never answers, which must end in the resolver's timeout, not a hang.
 */
class DnsOverVSocketTest {
    /** Names under this zone resolve to an address made from their label; "big-" ones only over TCP. */
    private static final String ZONE = "probe.test";
    private static final int BIG_ANSWERS = 40;


    private static EventLoopGroup nio;
    private static EventLoopGroup vsocket;

    @BeforeAll
    static void start() {
        nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        vsocket = new VSocketEventLoopGroup(1);
    }

    @AfterAll
    static void stop() throws InterruptedException {
        vsocket.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        nio.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void hundredsOfLookupsAtOnceAllGetTheirOwnAnswer(boolean serverOnVSocket) throws Exception {
        Channel server = udpServer(serverOnVSocket);
        DnsNameResolver resolver = resolver((InetSocketAddress) server.localAddress(), 5_000);
        try {
            // 64 at once: more would overflow the server's receive buffer, whose kernel drops queries
            // (an NIO client loses them the same way; the resolver does not resend within its timeout).
            for (int round = 0; round < 8; round++) {
                List<Future<InetAddress>> lookups = new ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    lookups.add(resolver.resolve("host" + (round * 64 + i) + "." + ZONE));
                }
                for (int i = 0; i < lookups.size(); i++) {
                    int n = round * 64 + i;
                    InetAddress address = lookups.get(i).get(10, TimeUnit.SECONDS);
                    assertEquals(InetAddress.getByAddress(addressOf(n, 0)), address, "host" + n);
                }
            }
            if (serverOnVSocket) {
                // Two vsocket channels on one host: the queries moved off UDP onto shared memory.
                assertTrue(((VSocketDatagramChannel) server).shmDatagramsReceived() > 0, "no query came over shm");
            }
        } finally {
            resolver.close();
            server.close().sync();
        }
    }

    @Test
    void aTruncatedAnswerIsFetchedAgainOverTcp() throws Exception {
        Channel udp = udpServer(false);
        int port = ((InetSocketAddress) udp.localAddress()).getPort();
        Channel tcp = tcpServer(port);
        DnsNameResolver resolver = resolver((InetSocketAddress) udp.localAddress(), 5_000);
        try {
            List<InetAddress> all = resolver.resolveAll("big-7." + ZONE).get(10, TimeUnit.SECONDS);
            Set<InetAddress> expected = new HashSet<>();
            for (int k = 0; k < BIG_ANSWERS; k++) {
                expected.add(InetAddress.getByAddress(addressOf(7, k)));
            }
            assertEquals(expected, new HashSet<>(all), "the answer the TCP retry brought");
        } finally {
            resolver.close();
            tcp.close().sync();
            udp.close().sync();
        }
    }

    @Test
    void anUnknownNameFailsAsUnknown() throws Exception {
        Channel server = udpServer(false);
        DnsNameResolver resolver = resolver((InetSocketAddress) server.localAddress(), 5_000);
        try {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> resolver.resolve("nowhere.invalid").get(10, TimeUnit.SECONDS));
            assertInstanceOf(UnknownHostException.class, e.getCause());
        } finally {
            resolver.close();
            server.close().sync();
        }
    }

    @Test
    void aServerThatNeverAnswersEndsInTheResolversTimeout() throws Exception {
        // A bound NIO datagram channel that reads and drops every query.
        Channel silent = new Bootstrap().group(nio).channel(NioDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<Object>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        DnsNameResolver resolver = resolver((InetSocketAddress) silent.localAddress(), 300);
        try {
            long start = System.nanoTime();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> resolver.resolve("host1." + ZONE).get(20, TimeUnit.SECONDS));
            assertInstanceOf(UnknownHostException.class, e.getCause());
            Throwable cause = e.getCause();
            while (cause != null && !(cause instanceof DnsNameResolverTimeoutException)) {
                cause = cause.getCause();
            }
            assertInstanceOf(DnsNameResolverTimeoutException.class, cause, "not the resolver's timeout: " + e.getCause());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20));
        } finally {
            resolver.close();
            silent.close().sync();
        }
    }

    private static DnsNameResolver resolver(InetSocketAddress server, long timeoutMillis) {
        return new DnsNameResolverBuilder(vsocket.next())
                .datagramChannelType(VSocketDatagramChannel.class)
                .socketChannelType(VSocketSocketChannel.class)
                .nameServerProvider(new SingletonDnsServerAddressStreamProvider(server))
                .resolvedAddressTypes(ResolvedAddressTypes.IPV4_ONLY)
                .hostsFileEntriesResolver(HostsFileEntriesResolver.DEFAULT)
                .resolveCache(NoopDnsCache.INSTANCE)
                .queryTimeoutMillis(timeoutMillis)
                .maxQueriesPerResolve(2)
                .optResourceEnabled(false)
                .build();
    }

    /** The address of the {@code k}th answer for the name with number {@code i}: 10.i/256.i%256.k. */
    private static byte[] addressOf(int i, int k) {
        return new byte[] {10, (byte) (i >> 8), (byte) i, (byte) k};
    }

    private static Channel udpServer(boolean onVSocket) throws InterruptedException {
        Class<? extends DatagramChannel> type = onVSocket ? VSocketDatagramChannel.class : NioDatagramChannel.class;
        return new Bootstrap().group(onVSocket ? vsocket : nio).channel(type)
                .handler(new ChannelInitializer<DatagramChannel>() {
                    @Override
                    protected void initChannel(DatagramChannel ch) {
                        ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(),
                                new SimpleChannelInboundHandler<DatagramDnsQuery>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
                                        DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), query.sender(), query.id());
                                        answer(query, response, false);
                                        ctx.writeAndFlush(response);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    private static Channel tcpServer(int port) throws InterruptedException {
        return new ServerBootstrap().group(nio).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new TcpDnsQueryDecoder(), new TcpDnsResponseEncoder(),
                                new SimpleChannelInboundHandler<DnsQuery>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, DnsQuery query) {
                                        DnsResponse response = new DefaultDnsResponse(query.id());
                                        answer(query, response, true);
                                        ctx.writeAndFlush(response);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", port)).sync().channel();
    }

    /** Fills {@code response} for {@code query}: over UDP a "big-" name is only a truncated answer. */
    private static void answer(DnsQuery query, DnsResponse response, boolean overTcp) {
        DnsQuestion question = query.recordAt(DnsSection.QUESTION);
        response.setRecursionDesired(query.isRecursionDesired());
        response.setRecursionAvailable(true);
        response.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(question.name(), question.type()));
        String name = question.name();
        String label = name.substring(0, name.indexOf('.'));
        boolean inZone = name.endsWith("." + ZONE + ".") && question.type() == DnsRecordType.A;
        if (!inZone || !(label.startsWith("host") || label.startsWith("big-"))) {
            response.setCode(DnsResponseCode.NXDOMAIN);
            return;
        }
        boolean big = label.startsWith("big-");
        int i = Integer.parseInt(label.substring(4)); // after "host" or "big-"
        if (big && !overTcp) {
            response.setTruncated(true);
            return;
        }
        for (int k = 0; k < (big ? BIG_ANSWERS : 1); k++) {
            response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(name, DnsRecordType.A, 60,
                    Unpooled.wrappedBuffer(addressOf(i, k))));
        }
    }
}
