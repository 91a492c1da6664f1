package io.vsocket.testsuite.datagram;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;

/**
 * A vsocket datagram echo in a process of its own, for the same-host tests: binds 127.0.0.1 on a
 * free port, prints {@code PORT n}, echoes every datagram to its sender, and on each line of its
 * standard input prints {@code SHM sent received} (what went over shm) until the input closes.
 */
public final class DatagramEchoProcess {
    private DatagramEchoProcess() {
    }

    public static void main(String[] args) throws Exception {
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        try {
            VSocketDatagramChannel echo = (VSocketDatagramChannel) new Bootstrap().group(group)
                    .channel(VSocketDatagramChannel.class)
                    .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                            ctx.writeAndFlush(new DatagramPacket(msg.content().retain(), msg.sender()));
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            System.out.println("PORT " + ((InetSocketAddress) echo.localAddress()).getPort());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            while (in.readLine() != null) {
                long[] counts = echo.eventLoop().submit(() -> new long[] {echo.shmDatagramsSent(),
                        echo.shmDatagramsReceived()}).get();
                System.out.println("SHM " + counts[0] + " " + counts[1]);
                System.out.flush();
            }
            echo.close().sync();
        } catch (IOException e) {
            e.printStackTrace();
        } finally {
            group.shutdownGracefully().sync();
        }
    }

    /** The started process, its port, and its output. */
    record Started(Process process, int port, BufferedReader out) implements AutoCloseable {
        /** Asks the process what went over shm: {sent, received}. */
        long[] shmCounts() throws IOException {
            process.getOutputStream().write('\n');
            process.getOutputStream().flush();
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("SHM ")) {
                    String[] f = line.split(" ");
                    return new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])};
                }
            }
            throw new IOException("the echo process ended");
        }

        @Override
        public void close() throws Exception {
            process.getOutputStream().close();
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
            out.close(); // the pipe's descriptor, now rather than when a cleaner gets to it
        }
    }

    static Started start() throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process process = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("vsocket.test.classpath", System.getProperty("java.class.path")),
                DatagramEchoProcess.class.getName())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream()));
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith("PORT ")) {
                return new Started(process, Integer.parseInt(line.substring(5).trim()), out);
            }
        }
        process.destroyForcibly();
        throw new IOException("the datagram echo process printed no port");
    }
}
