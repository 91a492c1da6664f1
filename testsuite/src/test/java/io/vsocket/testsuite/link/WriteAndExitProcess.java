package io.vsocket.testsuite.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketSocketChannel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A short-lived vsocket client in a process of its own, at the default settings: connects to the
 * port of its first argument, writes as many bytes of stream 11 as its second says, waits for the
 * write, prints {@code WROTE n}, and exits at once — after closing its channel, or ({@code exit} as
 * its third argument) without — a command-line tool's life. The kernel still holds what the server
 * had not taken when the process ends, and delivers it, as it does for any program.
 */
public final class WriteAndExitProcess {
    private WriteAndExitProcess() {
    }

    static final long SEED = 11;

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int length = Integer.parseInt(args[1]);
        EventLoopGroup group = new VSocketEventLoopGroup(1);
        Channel channel = new Bootstrap().group(group).channel(VSocketSocketChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
        ByteBuf data = Unpooled.directBuffer(length);
        for (int i = 0; i < length; i++) {
            data.writeByte(Peers.streamByte(SEED, i));
        }
        channel.writeAndFlush(data).sync();
        System.out.println("WROTE " + length);
        System.out.flush();
        if (!(args.length > 2 && args[2].equals("exit"))) {
            channel.close().sync();
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
        System.exit(0);
    }

    /** Starts one against {@code port} that closes before it exits, or ({@code "exit"}) does not. */
    static Process start(int port, int length, String mode) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("vsocket.test.classpath", System.getProperty("java.class.path")),
                WriteAndExitProcess.class.getName(), Integer.toString(port), Integer.toString(length), mode)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Runs one against {@code port}; returns once it exited, with what it printed. */
    static String run(int port, int length) throws IOException, InterruptedException {
        Process process = start(port, length, "close");
        String out = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        awaitExit(process);
        return out;
    }

    /** Waits for {@code process} to end (60 s at most). */
    static void awaitExit(Process process) throws IOException, InterruptedException {
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException("the writing client did not exit");
        }
    }
}
