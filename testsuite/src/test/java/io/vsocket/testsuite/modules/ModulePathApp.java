package io.vsocket.testsuite.modules;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;
import io.vsocket.link.VSocketFileRegions;
import io.vsocket.link.VSocketLink;

import java.lang.invoke.MethodHandles;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * An application that uses vsocket from the class path while vsocket and Netty sit on the module path
 * ({@link ModulePathTest} starts it): it says which module served it, whether it can reach a package
 * the module does not export, echoes a message on the default links and waits for the move onto shm.
 * Prints one {@code key=value} line per finding.
 */
public final class ModulePathApp {
    private ModulePathApp() {
    }

    public static void main(String[] args) throws Exception {
        Module module = VSocketSocketChannel.class.getModule();
        System.out.println("module=" + module.getName());
        System.out.println("exportsChannel=" + module.isExported("io.vsocket.channel"));
        System.out.println("exportsShm=" + module.isExported("io.vsocket.link.shm"));
        try {
            // A public class of a package the module does not export: out of this class's reach.
            MethodHandles.lookup().accessClass(Class.forName("io.vsocket.link.shm.ShmLink"));
            System.out.println("internalReachable=true");
        } catch (IllegalAccessException e) {
            System.out.println("internalReachable=false");
        }
        MethodHandles.lookup().accessClass(VSocketSocketChannel.class); // an exported one is in reach
        System.out.println("fileRegionAccess=" + VSocketFileRegions.hasDirectFileAccess());
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        // The client on Netty 4.2's own idiom, with the factory the module exports.
        EventLoopGroup clientGroup = new MultiThreadIoEventLoopGroup(1, VSocketEventLoopGroup.ioHandlerFactory());
        System.out.println("factoryGroup=" + VSocketEventLoopGroup.runsVSocket(clientGroup));
        try {
            Channel server = new ServerBootstrap().group(group).channel(VSocketServerSocketChannel.class)
                    .childHandler(new Echo()).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                    .sync().channel();
            CompletableFuture<String> echoed = new CompletableFuture<>();
            VSocketSocketChannel client = (VSocketSocketChannel) new Bootstrap().group(clientGroup)
                    .channel(VSocketSocketChannel.class).handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            echoed.complete(((ByteBuf) msg).toString(StandardCharsets.US_ASCII));
                            ((ByteBuf) msg).release();
                        }
                    }).connect(server.localAddress()).sync().channel();
            client.writeAndFlush(Unpooled.copiedBuffer("over the module path", StandardCharsets.US_ASCII));
            System.out.println("echoed=" + echoed.get(30, TimeUnit.SECONDS));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (client.link() != VSocketLink.SHM && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            System.out.println("link=" + client.link());
            client.close().sync();
            server.close().sync();
        } finally {
            clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @ChannelHandler.Sharable
    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg);
        }
    }
}
