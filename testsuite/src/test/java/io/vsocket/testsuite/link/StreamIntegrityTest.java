package io.vsocket.testsuite.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoopGroup;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Randomized integrity on each link: many connections at once, each sending a deterministic
 * pseudo-random stream in writes of random sizes (1 byte to 64 KiB) through a small ring, so the
 * ring wraps and credit runs out many times; the server echoes, and the client checks the CRC of
 * everything it got back against the stream's. Any loss, duplication or reordering changes it.
 */
@Timeout(120)
class StreamIntegrityTest {
    private static final int CONNECTIONS = 16;
    private static final long BYTES_PER_CONNECTION = 2L << 20;
    private static EventLoopGroup group;

    @BeforeAll
    static void start() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @ParameterizedTest
    @EnumSource(value = VSocketLink.class, names = {"SHM", "TCP"})
    void manyConnectionsRandomWritesEchoIntact(VSocketLink link) throws Exception {
        echoIntact(group, link, new InetSocketAddress("127.0.0.1", 0), CONNECTIONS, BYTES_PER_CONNECTION);
    }

    /**
     * {@code connections} clients on {@code link} each send {@code bytes} of their own stream to an
     * echo server bound to {@code address}, and check what comes back.
     */
    static void echoIntact(EventLoopGroup group, VSocketLink link, InetSocketAddress address, int connections,
                           long bytes) throws Exception {
        Channel server = Peers.vsocketServer(group, List.of(link), Peers.Echo.INSTANCE)
                .childOption(VSocketChannelOption.RING_SIZE, 4096)
                // Patient: the first rdma connection of a loop opens its device, slow in an emulated VM.
                .childOption(VSocketChannelOption.HELLO_TIMEOUT_MILLIS, 5000)
                .bind(address).sync().channel();
        try {
            List<Peers.Collector> collectors = new ArrayList<>();
            List<Channel> clients = new ArrayList<>();
            for (int c = 0; c < connections; c++) {
                Peers.Collector collector = new Peers.Collector(bytes);
                Channel client = Peers.vsocketClient(group, List.of(link), collector)
                        .option(VSocketChannelOption.RING_SIZE, 8192)
                        .connect(server.localAddress()).sync().channel();
                assertEquals(link, Peers.linkOf(client));
                collectors.add(collector);
                clients.add(client);
            }
            for (int c = 0; c < connections; c++) {
                send(clients.get(c), c, new SplittableRandom(c), bytes);
            }
            for (int c = 0; c < connections; c++) {
                long crc = collectors.get(c).done.get(60, TimeUnit.SECONDS);
                assertEquals(Peers.streamCrc(c, bytes), crc, "connection " + c + " on " + link);
            }
            for (Channel client : clients) {
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }

    /** Writes the stream in random pieces, flushing now and then; waits when the channel is not writable. */
    static void send(Channel channel, long seed, SplittableRandom random, long bytes) throws InterruptedException {
        long sent = 0;
        ChannelFuture last = null;
        while (sent < bytes) {
            int size = (int) Math.min(bytes - sent, random.nextInt(1, 65537));
            ByteBuf buf = random.nextBoolean() ? channel.alloc().directBuffer(size) : channel.alloc().heapBuffer(size);
            for (int i = 0; i < size; i++) {
                buf.writeByte(Peers.streamByte(seed, sent + i));
            }
            sent += size;
            last = channel.write(buf);
            if (random.nextInt(4) == 0) {
                channel.flush();
            }
            while (!channel.isWritable() && channel.isActive()) {
                channel.flush();
                Thread.sleep(1);
            }
        }
        channel.flush();
        last.sync();
    }
}
