package io.vsocket.testsuite.link;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketLinks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A vsocket echo server in a process of its own, for the two-process tests: binds the address of
 * its second argument (127.0.0.1 when absent) on a free port with the links named in its first,
 * prints {@code PORT n}, and runs until its standard input closes (or it is killed).
 */
public final class EchoServerProcess {
    private EchoServerProcess() {
    }

    public static void main(String[] args) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        try {
            // A third argument "silent": instead of echoing, the server writes 1 MiB and never reads;
            // "sink": it neither reads nor writes.
            boolean silent = args.length > 2 && args[2].equals("silent");
            boolean sink = args.length > 2 && args[2].equals("sink");
            io.netty.channel.ChannelHandler handler = sink ? new io.netty.channel.ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(io.netty.channel.ChannelHandlerContext ctx) {
                            ctx.channel().config().setAutoRead(false);
                        }

                        @Override
                        public boolean isSharable() {
                            return true;
                        }
                    }
                    : !silent ? Peers.Echo.INSTANCE
                    : new io.netty.channel.ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(io.netty.channel.ChannelHandlerContext ctx) {
                            ctx.channel().config().setAutoRead(false);
                            ctx.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[1 << 20]));
                        }

                        @Override
                        public boolean isSharable() {
                            return true;
                        }
                    };
            Channel server = Peers.vsocketServer(group, VSocketLinks.parse(args.length > 0 ? args[0] : "shm,tcp"),
                    handler).childOption(io.vsocket.channel.VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                    .bind(new InetSocketAddress(args.length > 1 ? args[1] : "127.0.0.1", 0)).sync().channel();
            System.out.println("PORT " + ((InetSocketAddress) server.localAddress()).getPort());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            while (in.readLine() != null) {
                // run until the parent closes our stdin
            }
        } catch (IOException e) {
            e.printStackTrace();
        } finally {
            group.shutdownGracefully().sync();
        }
    }

    /** Starts one; returns the process and its port. */
    static Started start(String links) throws IOException {
        return start(links, "127.0.0.1");
    }

    /** Starts one bound to {@code address}; returns the process and its port. */
    static Started start(String links, String address) throws IOException {
        return start(links, address, "echo");
    }

    /**
     * Starts one bound to {@code address} that echoes, or ({@code "silent"}) writes 1 MiB and never reads, or
     * ({@code "sink"}) neither reads nor writes.
     */
    static Started start(String links, String address, String mode) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder builder = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("vsocket.test.classpath", System.getProperty("java.class.path")),
                EchoServerProcess.class.getName(), links, address, mode)
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        Process process = builder.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream()));
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith("PORT ")) {
                return new Started(process, Integer.parseInt(line.substring(5).trim()));
            }
        }
        process.destroyForcibly();
        throw new IOException("the echo server process ended without printing its port");
    }

    record Started(Process process, int port) {
        /** Kills the process (SIGKILL) and waits for it to be gone. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(20, TimeUnit.SECONDS);
        }
    }

}
