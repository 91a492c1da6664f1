package io.vsocket.examples.relay;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketLink;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * vsocket in front of a server that does not speak it, such as a stock {@code redis-server}: accepts
 * vsocket clients (shm on this host, rdma across an RDMA network) and plain TCP clients, and relays
 * each connection's bytes, both ways, to the target over plain TCP. Nothing is parsed, so it works
 * for any protocol; the upstream side reads only as fast as the client side writes, and the other way
 * round, so neither end can make it buffer without bound.
 *
 * <pre>
 * examples/run redis-relay [port] [target host:port]   (defaults 6381 and 127.0.0.1:6379)
 * </pre>
 */
public final class Relay implements AutoCloseable {
    private final Channel listener;

    private Relay(Channel listener) {
        this.listener = listener;
    }

    /** Listens on {@code listen} with {@code group}'s loops and relays to {@code target}. */
    public static Relay start(EventLoopGroup group, InetSocketAddress listen, InetSocketAddress target)
            throws InterruptedException {
        Channel listener = new ServerBootstrap()
                .group(group)
                .channel(VSocketServerSocketChannel.class)
                // a client's bytes are read only once the target is connected to take them
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ClientSide(target)); // state per connection: its upstream
                    }
                })
                .bind(listen).sync().channel();
        return new Relay(listener);
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    @Override
    public void close() throws InterruptedException {
        listener.close().sync();
    }

    /** Moves one side's bytes to its peer, and closes the peer (after what is queued) when its side ends. */
    private static class Pump extends ChannelInboundHandlerAdapter {
        Channel peer;

        Pump(Channel peer) {
            this.peer = peer;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            forward(msg, peer, ctx.channel());
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeAfterFlush(peer);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            closeAfterFlush(ctx.channel());
        }
    }

    /** One per accepted connection: opens the upstream connection, its peer, then pumps the client's bytes up. */
    private static final class ClientSide extends Pump {
        private final InetSocketAddress target;

        ClientSide(InetSocketAddress target) {
            super(null);
            this.target = target;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel client = ctx.channel();
            peer = new Bootstrap()
                    .group(client.eventLoop()) // both ends of a relayed connection on one loop: no hand-offs
                    .channel(VSocketSocketChannel.class)
                    // The target is plain TCP: no hello, so no wait for a vsocket offer that cannot come.
                    .option(VSocketChannelOption.LINKS, List.of(VSocketLink.TCP))
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new Pump(client))
                    .connect(target)
                    .addListener((ChannelFutureListener) f -> {
                        if (!f.isSuccess()) {
                            client.close();
                        } else if (!client.isActive()) {
                            // The client left while this connected: its close found nothing to close.
                            f.channel().close();
                        } else {
                            f.channel().read();
                            client.read();
                        }
                    }).channel();
        }
    }

    /** Writes to {@code to}; reads the next bytes from {@code from} only once those are written. */
    private static void forward(Object msg, Channel to, Channel from) {
        to.writeAndFlush(msg).addListener((ChannelFutureListener) f -> {
            if (f.isSuccess()) {
                from.read();
            } else {
                f.channel().close();
                from.close();
            }
        });
    }

    private static void closeAfterFlush(Channel channel) {
        if (channel != null && channel.isActive()) {
            channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    public static void main(String[] args) throws InterruptedException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 6381;
        String target = args.length > 1 ? args[1] : "127.0.0.1:6379";
        int colon = target.lastIndexOf(':');
        InetSocketAddress to = new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)));
        EventLoopGroup group = new VSocketEventLoopGroup();
        try {
            Relay relay = start(group, new InetSocketAddress(port), to);
            System.out.println("vsocket relay on " + relay.address() + " to " + to + " (Ctrl-C stops it)");
            relay.listener.closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }
}
