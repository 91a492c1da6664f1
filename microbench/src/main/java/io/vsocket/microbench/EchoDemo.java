package io.vsocket.microbench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;
import io.vsocket.verbs.Verbs;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The demo: a line-echo server and client on {@link VSocketEventLoopGroup} (a plain Netty
 * application with the group and channel classes swapped), reporting which link carried the
 * connection (the best available: shm between two processes or threads of one host), then the 64 B
 * round trip and 64 KiB streaming figures of vsocket on that link beside Netty NIO's from the same
 * run.
 */
public final class EchoDemo {
    public static void main(String[] args) throws Exception {
        int roundTrips = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        System.out.println("RDMA verbs: " + (Verbs.isAvailable() ? "available" : "unavailable ("
                + Verbs.unavailabilityCause().getMessage() + ")"));
        EventLoopGroup group = new VSocketEventLoopGroup(2);
        String linkName;
        try {
            Channel server = new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new LineBasedFrameDecoder(1024),
                                    new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                                    new SimpleChannelInboundHandler<String>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, String line) {
                                            ctx.writeAndFlush("echo: " + line + "\n");
                                        }
                                    });
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            CompletableFuture<String> reply = new CompletableFuture<>();
            VSocketSocketChannel client = (VSocketSocketChannel) new Bootstrap().group(group)
                    .channel(VSocketSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new LineBasedFrameDecoder(1024),
                                    new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                                    new SimpleChannelInboundHandler<String>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, String line) {
                                            reply.complete(line);
                                        }
                                    });
                        }
                    })
                    .connect(server.localAddress()).sync().channel();
            client.writeAndFlush("hello from a Netty app on vsocket\n");
            System.out.println("server said: " + reply.get(10, TimeUnit.SECONDS));
            // On one host the connection began on tcp and moves onto shm as the hello completes.
            long settle = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (client.link() == VSocketLink.TCP && System.nanoTime() < settle) {
                Thread.sleep(1);
            }
            System.out.println("link: " + client.link().name().toLowerCase() + " (" + client.localAddress()
                    + " -> " + client.remoteAddress() + ")");
            linkName = client.link().name().toLowerCase();
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }

        System.out.println();
        List<TransportComparison.Result> results = new java.util.ArrayList<>();
        List<TransportComparison.Transport> compared = TransportComparison.transports().stream()
                .filter(t -> t.name().equals("vsocket-" + linkName) || t.name().equals("nio")).toList();
        for (TransportComparison.Transport t : compared) {
            TransportComparison.measure(t, 30_000, 0.5); // warm-up: the JIT compiles the shared code first
        }
        for (TransportComparison.Transport t : compared) {
            results.add(TransportComparison.measure(t, roundTrips, 2));
        }
        TransportComparison.print(results);
    }
}
