package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Host 1's side of the two-host run ({@code softroce/run-pair}, client {@link CrossHostTest}): two
 * echo servers on the rdma link only, bound to {@code ADDRESS} (169.254.77.1, host 1's eth0). The one
 * on {@code PORT} echoes for as long as its clients want; the one on {@code PORT + 1} echoes until a
 * connection has brought it {@link #DIE_AFTER} bytes, then kills this process with SIGKILL, mid-stream,
 * as a crashed host process would end; the one on {@code PORT + 2} echoes on rdma with tcp allowed,
 * for the client's cut of the RoCE path; the one on {@code PORT + 3} the same, each connection taken up
 * only 2 s after it was accepted (its offer comes long after the client went on over tcp). Ends with status 3 when {@code SECONDS} passed without that (the
 * client never came), so host 1 does not wait for ever.
 * <p>Arguments: {@code ADDRESS PORT SECONDS} (defaults 169.254.77.1, 7000, 600).
 */
public final class CrossHostServer {
    /** What the dying server reads before it kills its process. */
    static final long DIE_AFTER = 1L << 20;

    private CrossHostServer() {
    }

    public static void main(String[] args) throws Exception {
        String address = args.length > 0 ? args[0] : "169.254.77.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 7000;
        long seconds = args.length > 2 ? Long.parseLong(args[2]) : 600;
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        try {
            Channel echo = server(group, new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.pipeline().addLast(new Reporter("echo"), Peers.Echo.INSTANCE);
                }
            }).bind(new InetSocketAddress(address, port)).sync().channel();
            Channel dying = server(group, new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.pipeline().addLast(new Reporter("dying"), new DieAfter(), Peers.Echo.INSTANCE);
                }
            }).bind(new InetSocketAddress(address, port + 1)).sync().channel();
            // Rdma with tcp allowed: a connection whose RoCE path is cut goes on over tcp.
            Channel failover = Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP),
                    new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new Reporter("failover"), Peers.Echo.INSTANCE);
                        }
                    }).childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 20_000)
                    .bind(new InetSocketAddress(address, port + 2)).sync().channel();
            // Rdma with tcp allowed, each accepted connection handed on (registered, its hello begun) only
            // 2 s later, as by a busy accept loop: its offer comes long after the client went on over tcp.
            Channel slow = Peers.vsocketServer(group, List.of(VSocketLink.RDMA, VSocketLink.TCP),
                    new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new Reporter("slow"), Peers.Echo.INSTANCE);
                        }
                    }).handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object child) {
                            ctx.executor().schedule(() -> ctx.fireChannelRead(child), 2, TimeUnit.SECONDS);
                        }
                    })
                    .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 20_000)
                    .bind(new InetSocketAddress(address, port + 3)).sync().channel();
            System.out.println("LISTENING echo " + echo.localAddress() + ", dying " + dying.localAddress()
                    + ", failover " + failover.localAddress() + ", slow " + slow.localAddress());
            System.out.flush();
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
            System.out.println("no client killed this server within " + seconds + " s");
            System.exit(3);
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    private static io.netty.bootstrap.ServerBootstrap server(EventLoopGroup group, ChannelInitializer<Channel> init) {
        // Patient: the first rdma connection opens the device, slow in an emulated VM.
        return Peers.vsocketServer(group, List.of(VSocketLink.RDMA), init)
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 20_000);
    }

    /** Says which link each connection got and how many bytes it echoed, for host 1's log. */
    private static final class Reporter extends ChannelInboundHandlerAdapter {
        private final String server;
        private long bytes;

        Reporter(String server) {
            this.server = server;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            System.out.println(server + ": accepted " + ctx.channel().remoteAddress() + " on "
                    + Peers.linkOf(ctx.channel()));
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            bytes += ((ByteBuf) msg).readableBytes();
            ctx.fireChannelRead(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            System.out.println(server + ": " + ctx.channel().remoteAddress() + " closed after " + bytes + " bytes, on "
                    + Peers.linkOf(ctx.channel()));
            ctx.fireChannelInactive();
        }
    }

    /** Kills this process once {@link #DIE_AFTER} bytes came in on one connection. */
    private static final class DieAfter extends ChannelInboundHandlerAdapter {
        private long bytes;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            bytes += ((ByteBuf) msg).readableBytes();
            if (bytes >= DIE_AFTER) {
                System.out.println("dying: " + bytes + " bytes read, killing this process (SIGKILL) at "
                        + java.time.LocalTime.now());
                System.out.flush();
                try {
                    // A real SIGKILL, not System.exit: no shutdown hook, no close; the kernel tears down
                    // the queue pairs and sockets as it would for a crash. The loop waits meanwhile.
                    new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid()))
                            .inheritIO().start().waitFor();
                } catch (Exception e) {
                    e.printStackTrace();
                }
                Runtime.getRuntime().halt(137); // only if kill failed
            }
            ctx.fireChannelRead(msg);
        }
    }
}
