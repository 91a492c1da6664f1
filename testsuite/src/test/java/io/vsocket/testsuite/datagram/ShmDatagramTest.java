package io.vsocket.testsuite.datagram;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Datagrams between vsocket channels on one host over shared memory: both ways once resolved,
 * between processes, cut to the receive buffer as over UDP, a plain UDP peer never asked
 * anything, a closed peer's link gone (and its successor on the same port reached anew), a
 * wildcard-bound receiver found at a loopback address, the application's pace (auto-read off), and
 * nothing left open after close.
 */
class ShmDatagramTest {
    private static final InetAddress LOCALHOST = InetAddress.getLoopbackAddress();
    private static EventLoopGroup group;

    @BeforeAll
    static void startGroup() {
        group = new VSocketEventLoopGroup(2);
    }

    @AfterAll
    static void stopGroup() throws InterruptedException {
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
    }

    private static VSocketDatagramChannel bind(InetSocketAddress at, BlockingQueue<DatagramPacket> received,
            Bootstrap options) throws InterruptedException {
        return (VSocketDatagramChannel) options.group(group).channel(VSocketDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        received.add(msg);
                    }
                }).bind(at).sync().channel();
    }

    private static VSocketDatagramChannel bind(BlockingQueue<DatagramPacket> received) throws InterruptedException {
        return bind(new InetSocketAddress(LOCALHOST, 0), received, new Bootstrap());
    }

    private static VSocketDatagramChannel echo(InetSocketAddress at) throws InterruptedException {
        return (VSocketDatagramChannel) new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        ctx.writeAndFlush(new DatagramPacket(msg.content().retain(), msg.sender()));
                    }
                }).bind(at).sync().channel();
    }

    private static DatagramPacket packet(String text, InetSocketAddress to) {
        return new DatagramPacket(Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII), to);
    }

    private static String text(DatagramPacket packet) {
        try {
            return packet.content().toString(StandardCharsets.US_ASCII);
        } finally {
            packet.release();
        }
    }

    private static <T> T onLoop(VSocketDatagramChannel ch, Callable<T> what) throws Exception {
        return ch.eventLoop().submit(what).get(5, TimeUnit.SECONDS);
    }

    @Test
    void peersOnThisHostExchangeDatagramsOverShmBothWays() throws Exception {
        BlockingQueue<DatagramPacket> echoed = new LinkedBlockingQueue<>();
        VSocketDatagramChannel server = echo(new InetSocketAddress(LOCALHOST, 0));
        VSocketDatagramChannel client = bind(echoed);
        try {
            assertTrue(server.hasShmRendezvous());
            InetSocketAddress to = server.localAddress();
            // The first datagrams go over UDP, and the last of them while the client asks the server; the
            // server's echoes too (it has no link to the client yet).
            askForShm(client, to, echoed, "first");
            awaitShmTo(server, client.localAddress()); // the echoes' way: the client's link, or one of the server's
            assertThrows(IllegalStateException.class, () -> client.sendsOverShmTo(to), "asked off the loop");
            for (int i = 0; i < 200; i++) {
                client.write(packet("d" + i, to));
                if (i % 16 == 15) {
                    client.flush();
                }
            }
            client.flush();
            Set<String> got = new HashSet<>();
            for (int i = 0; i < 200; i++) {
                DatagramPacket p = echoed.poll(5, TimeUnit.SECONDS);
                assertNotNull(p, "echo " + i + " of 200");
                assertEquals(to, p.sender(), "from the server's UDP address, as over UDP");
                got.add(text(p));
            }
            assertEquals(200, got.size());
            assertEquals(200L, (long) onLoop(client, client::shmDatagramsSent), "all 200 over shm");
            assertEquals(200L, (long) onLoop(client, client::shmDatagramsReceived), "and the echoes too");
            assertEquals(200L, (long) onLoop(server, server::shmDatagramsSent));
            int links = onLoop(client, client::shmLinks);
            assertTrue(links == 1 || links == 2, "one link carries both ways (two where both sides set one up at "
                    + "once): " + links);
        } finally {
            client.close().sync();
            server.close().sync();
        }
    }

    /**
     * A peer sent fewer datagrams than it takes to ask for shm — a query and its answer, a client channel
     * made per request — costs neither side a set-up (a look, the resolution, a memfd both map): each
     * such client of an echo server cost four times epoll's CPU when every first datagram set one up.
     */
    @Test
    void aQueryAndItsAnswerCostNeitherSideALink() throws Exception {
        BlockingQueue<DatagramPacket> echoed = new LinkedBlockingQueue<>();
        VSocketDatagramChannel server = echo(new InetSocketAddress(LOCALHOST, 0));
        try {
            for (int round = 0; round < 3; round++) {
                VSocketDatagramChannel client = bind(echoed);
                try {
                    for (int i = 0; i < SENT_BEFORE_SHM - 1; i++) {
                        client.writeAndFlush(packet("query", server.localAddress())).sync();
                        assertEquals("query", text(echoed.poll(5, TimeUnit.SECONDS)));
                    }
                    Thread.sleep(200); // (a set-up would be done by now)
                    assertEquals(0, (int) onLoop(client, client::shmLinks), "the client set up no link");
                } finally {
                    client.close().sync();
                }
            }
            assertEquals(0, (int) onLoop(server, server::shmLinks), "the server set up none");
            assertEquals(0L, (long) onLoop(server, server::shmDatagramsReceived));
        } finally {
            server.close().sync();
        }
    }

    @Test
    void anotherProcessOnThisHostTakesDatagramsOverShm() throws Exception {
        BlockingQueue<DatagramPacket> echoed = new LinkedBlockingQueue<>();
        try (DatagramEchoProcess.Started process = DatagramEchoProcess.start()) {
            VSocketDatagramChannel client = bind(echoed);
            try {
                InetSocketAddress to = new InetSocketAddress(LOCALHOST, process.port());
                askForShm(client, to, echoed, "first");
                // The echoes' way over shm is the other process's to see: probes until one came back so.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (onLoop(client, client::shmDatagramsReceived) == 0) {
                    assertTrue(System.nanoTime() < deadline, "no echo over shm within 10 s");
                    client.writeAndFlush(packet("probe", to)).sync();
                    assertEquals("probe", text(echoed.poll(5, TimeUnit.SECONDS)));
                }
                long sentBefore = onLoop(client, client::shmDatagramsSent);
                long[] remoteBefore = process.shmCounts();
                for (int i = 0; i < 100; i++) {
                    ByteBuf payload = Unpooled.buffer(1000);
                    for (int b = 0; b < 1000; b++) {
                        payload.writeByte(i + b);
                    }
                    client.writeAndFlush(new DatagramPacket(payload, to)).sync();
                    DatagramPacket p = echoed.poll(5, TimeUnit.SECONDS);
                    assertNotNull(p, "echo " + i);
                    ByteBuf c = p.content();
                    assertEquals(1000, c.readableBytes());
                    for (int b = 0; b < 1000; b++) {
                        assertEquals((byte) (i + b), c.getByte(c.readerIndex() + b), "byte " + b + " of echo " + i);
                    }
                    p.release();
                }
                assertEquals(sentBefore + 100, (long) onLoop(client, client::shmDatagramsSent), "all 100 over shm");
                long[] remote = process.shmCounts();
                assertEquals(remoteBefore[1] + 100, remote[1], "the other process received them over shm");
                assertEquals(remoteBefore[0] + 100, remote[0], "and echoed them over shm");
            } finally {
                client.close().sync();
            }
        }
    }

    /**
     * A sender's datagrams go over UDP until its shm link is confirmed, then over the link: the
     * receiver reads what its socket holds before the link's first datagram, so the change of path
     * does not reorder them (loopback UDP keeps one sender's order, and NIO's channels show it). A
     * numbered stream, paced so no buffer overflows, sent from a plain thread while the link is made;
     * three fresh pairs.
     */
    @Test
    void theChangeFromUdpToShmKeepsASendersOrder() throws Exception {
        assumeLargeReceiveBuffers(); // (every datagram must fit the socket while the link is made)
        for (int round = 0; round < 3; round++) {
            BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
            // A socket buffer for every datagram: the first link a JVM makes costs its loop some 20 ms of
            // first-time code (set-up and resolution), in which the small default buffer would overflow.
            VSocketDatagramChannel rx = bind(new InetSocketAddress(LOCALHOST, 0), received,
                    new Bootstrap().option(ChannelOption.SO_RCVBUF, 8 << 20));
            VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
            try {
                InetSocketAddress to = rx.localAddress();
                int n = 12000;
                for (int i = 0; i < n; i++) {
                    tx.writeAndFlush(new DatagramPacket(Unpooled.buffer(4).writeInt(i), to));
                    if (i % 20 == 19) {
                        Thread.sleep(1);
                    }
                }
                int last = -1;
                int got = 0;
                DatagramPacket p;
                while (got < n && (p = received.poll(2, TimeUnit.SECONDS)) != null) {
                    int seq = p.content().getInt(p.content().readerIndex());
                    p.release();
                    assertTrue(seq > last, "round " + round + ": datagram " + seq + " after " + last);
                    last = seq;
                    got++;
                }
                assertEquals(n, got, "round " + round + ": every datagram arrived");
                long overShm = onLoop(tx, tx::shmDatagramsSent);
                assertTrue(overShm > 0 && overShm < n, "round " + round + ": the path changed midway (" + overShm
                        + " of " + n + " over shm)");
            } finally {
                tx.close().sync();
                rx.close().sync();
            }
        }
    }

    /**
     * The same for a receiver far behind (a handler that takes its time, one datagram a read turn as
     * with Netty's {@code FixedRecvByteBufAllocator}): its socket holds hundreds of the sender's
     * datagrams when the link's first one comes, and they still go first. (The socket was read at
     * most 64 turns then, so the rest came after the link's, out of order: 29–64 of them in probes.)
     */
    @Test
    void aReceiverFarBehindStillGetsASendersOrderAcrossTheChangeFromUdpToShm() throws Exception {
        assumeLargeReceiveBuffers(); // (hundreds wait in the socket)
        // The process's first link costs its loops some first-time code (hundreds of milliseconds in a
        // cold JVM), in which this sender would be done before its link is: one made first.
        BlockingQueue<DatagramPacket> warm = new LinkedBlockingQueue<>();
        VSocketDatagramChannel warmRx = bind(warm);
        VSocketDatagramChannel warmTx = bind(new LinkedBlockingQueue<>());
        try {
            linkOverShm(warmTx, warmRx, warm);
        } finally {
            warmTx.close().sync();
            warmRx.close().sync();
        }
        EventLoopGroup slow = new VSocketEventLoopGroup(1);
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = (VSocketDatagramChannel) new Bootstrap().group(slow)
                .channel(VSocketDatagramChannel.class)
                .option(ChannelOption.SO_RCVBUF, 8 << 20)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(2048))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        LockSupport.parkNanos(400_000); // the application's work
                        received.add(msg);
                    }
                }).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            InetSocketAddress to = rx.localAddress();
            int n = 3000;
            // 20 a millisecond, written on the sender's loop (a thread that writes as fast as the loop
            // sends keeps Netty's loop in its tasks, its socket unread, for up to a second).
            AtomicInteger next = new AtomicInteger();
            CountDownLatch sent = new CountDownLatch(1);
            ScheduledFuture<?> sender = tx.eventLoop().scheduleAtFixedRate(() -> {
                for (int k = 0; k < 20 && next.get() < n; k++) {
                    tx.write(new DatagramPacket(Unpooled.buffer(4).writeInt(next.getAndIncrement()), to));
                }
                tx.flush();
                if (next.get() == n) {
                    sent.countDown();
                }
            }, 0, 1, TimeUnit.MILLISECONDS);
            assertTrue(sent.await(20, TimeUnit.SECONDS), "sent");
            sender.cancel(false);
            int last = -1;
            int got = 0;
            DatagramPacket p;
            while (got < n && (p = received.poll(5, TimeUnit.SECONDS)) != null) {
                int seq = p.content().getInt(p.content().readerIndex());
                p.release();
                assertTrue(seq > last, "datagram " + seq + " after " + last);
                last = seq;
                got++;
            }
            assertEquals(n, got, "every datagram arrived");
            long overShm = onLoop(tx, tx::shmDatagramsSent);
            assertTrue(overShm > 0 && overShm < n, "the path changed midway (" + overShm + " of " + n + " over shm)");
        } finally {
            tx.close().sync();
            rx.close().sync();
            slow.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aPlainUdpPeerOnThisHostIsNeverAskedAnything() throws Exception {
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try (DatagramSocket plain = new DatagramSocket(new InetSocketAddress(LOCALHOST, 0))) {
            plain.setSoTimeout(500);
            InetSocketAddress to = (InetSocketAddress) plain.getLocalSocketAddress();
            for (int i = 0; i < 20; i++) {
                tx.writeAndFlush(packet("p" + i, to)).sync();
            }
            java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[2048], 2048);
            for (int i = 0; i < 20; i++) {
                plain.receive(in);
                assertEquals("p" + i, new String(in.getData(), 0, in.getLength(), StandardCharsets.US_ASCII));
            }
            assertThrows(java.net.SocketTimeoutException.class, () -> plain.receive(in),
                    "nothing but the application's datagrams");
            assertEquals(0L, (long) onLoop(tx, tx::shmDatagramsSent));
        } finally {
            tx.close().sync();
        }
    }

    @Test
    void aDatagramLongerThanTheReceiveBufferIsCutOverShmAsOverUdpAndWholeWithALargerOne() throws Exception {
        BlockingQueue<DatagramPacket> cut = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> whole = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> echoed = new LinkedBlockingQueue<>();
        VSocketDatagramChannel small = bind(cut);
        VSocketDatagramChannel large = bind(new InetSocketAddress(LOCALHOST, 0), whole,
                new Bootstrap().option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(65536)));
        VSocketDatagramChannel tx = bind(echoed);
        try {
            byte[] bytes = new byte[60_000];
            new java.util.Random(7).nextBytes(bytes);
            for (VSocketDatagramChannel rx : new VSocketDatagramChannel[] {small, large}) {
                BlockingQueue<DatagramPacket> q = rx == small ? cut : whole;
                askForShm(tx, rx.localAddress(), q, "hello");
                tx.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(bytes), rx.localAddress())).sync();
            }
            DatagramPacket c = cut.poll(5, TimeUnit.SECONDS);
            assertEquals(2048, c.content().readableBytes(), "cut to the default receive buffer, as NIO cuts it");
            byte[] head = new byte[2048];
            c.content().getBytes(c.content().readerIndex(), head);
            assertArrayEquals(java.util.Arrays.copyOf(bytes, 2048), head);
            c.release();
            DatagramPacket w = whole.poll(5, TimeUnit.SECONDS);
            byte[] all = new byte[w.content().readableBytes()];
            w.content().getBytes(w.content().readerIndex(), all);
            assertArrayEquals(bytes, all, "whole with a 64 KiB receive buffer");
            w.release();
            assertEquals(2L, (long) onLoop(tx, tx::shmDatagramsSent), "both large ones over shm");
            // The cut one's tail left the ring: the next datagram arrives intact.
            tx.writeAndFlush(packet("after", small.localAddress())).sync();
            assertEquals("after", text(cut.poll(5, TimeUnit.SECONDS)));
        } finally {
            tx.close().sync();
            small.close().sync();
            large.close().sync();
        }
    }

    /**
     * An adaptive receive allocator learns from datagrams that came over shm as from those read off
     * the socket: after datagrams that fill its guess it grows, so 8,000-byte datagrams soon arrive
     * whole (NIO and epoll: 64, 128, ... 512, then 8000 each; before, over shm every one stayed cut).
     */
    @Test
    void anAdaptiveReceiveAllocatorGrowsOverShmAsOverUdp() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> unused = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(new InetSocketAddress(LOCALHOST, 0), received, new Bootstrap()
                .option(ChannelOption.RCVBUF_ALLOCATOR, new io.netty.channel.AdaptiveRecvByteBufAllocator(64, 64, 65536)));
        VSocketDatagramChannel tx = bind(unused);
        try {
            askForShm(tx, rx.localAddress(), received, "hello");
            int last = 0;
            for (int i = 0; i < 12; i++) {
                tx.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(new byte[8000]), rx.localAddress())).sync();
                DatagramPacket p = received.poll(5, TimeUnit.SECONDS);
                assertNotNull(p, "datagram " + i);
                last = p.content().readableBytes();
                p.release();
            }
            assertTrue(onLoop(rx, rx::shmDatagramsReceived) >= 12, "they came over shm");
            assertEquals(8000, last, "the allocator grew to take them whole");
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /**
     * A channel connected to the wildcard address (this host, to the kernel) hears its peer's
     * datagrams over shm too: its peer is the address the kernel connected it to, as on epoll
     * (before, the shm side compared the sender with the literal 0.0.0.0 and dropped all but the
     * first echo, which came over UDP).
     */
    @Test
    void aChannelConnectedToTheWildcardAddressHearsItsPeerOverShm() throws Exception {
        BlockingQueue<DatagramPacket> echoes = new LinkedBlockingQueue<>();
        VSocketDatagramChannel peer = echo(new InetSocketAddress(LOCALHOST, 0));
        VSocketDatagramChannel a = bind(echoes);
        try {
            a.connect(new InetSocketAddress("0.0.0.0", peer.localAddress().getPort())).sync();
            // Ten exchanges at least, then on until an echo came over shm (the set-up, asked for with the
            // fourth, can take longer than the rest of the ten in a loaded or cold JVM), 10 s at most.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            for (int i = 0; i < 10 || onLoop(a, a::shmDatagramsReceived) == 0 && System.nanoTime() < deadline; i++) {
                a.writeAndFlush(Unpooled.copiedBuffer("echo " + i, StandardCharsets.US_ASCII)).sync();
                DatagramPacket p = echoes.poll(5, TimeUnit.SECONDS);
                assertNotNull(p, "echo " + i);
                assertEquals("echo " + i, text(p));
                Thread.sleep(20);
            }
            assertTrue(onLoop(a, a::shmDatagramsReceived) > 0, "echoes came over shm");
            assertEquals(LOCALHOST, a.remoteAddress().getAddress(), "the kernel's peer: this host, as epoll reports it");
        } finally {
            a.close().sync();
            peer.close().sync();
        }
    }

    @Test
    void aClosedPeersLinkGoesAndItsSuccessorOnThePortIsReachedAnew() throws Exception {
        BlockingQueue<DatagramPacket> first = new LinkedBlockingQueue<>();
        BlockingQueue<DatagramPacket> second = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(first);
        InetSocketAddress at = rx.localAddress();
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            askForShm(tx, at, first, "a");
            tx.writeAndFlush(packet("b", at)).sync();
            assertEquals("b", text(first.poll(5, TimeUnit.SECONDS)));
            assertEquals(1L, (long) onLoop(tx, tx::shmDatagramsSent));
            rx.close().sync();
            // The link's peer closed: the next datagram goes over UDP (to nobody), and the link goes (once a poll has
            // read what the peer left in it: here nothing).
            tx.writeAndFlush(packet("lost", at)).sync();
            waitForNoLinks(tx);
            rx = bind(at, second, new Bootstrap());
            // The gone link's look went with it: the successor is looked for, and asked, as a new peer is.
            // "lost" went within the second the look counts, so the look may come with the third "c", and
            // the fourth go over shm when the set-up is done before it (CI, 2026-12-07: 3 where 2 was asserted).
            askForShm(tx, at, second, "c");
            long before = onLoop(tx, tx::shmDatagramsSent);
            assertTrue(before <= 2L, "at most the last \"c\" over shm, was " + before);
            tx.writeAndFlush(packet("d", at)).sync();
            assertEquals("d", text(second.poll(5, TimeUnit.SECONDS)));
            assertEquals(before + 1, (long) onLoop(tx, tx::shmDatagramsSent), "the successor over shm again");
            assertNull(second.poll(200, TimeUnit.MILLISECONDS));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /**
     * A sender that closes right after its writes succeeded: loopback UDP has each datagram in the
     * receiver's socket once its send returned, and NIO's and epoll's receivers get every one. Over shm
     * they are in the receiver's ring, and the link used to go after one read turn of them once the
     * sender hung up (16 datagrams, the messages a read takes): a probe lost some in 38 of 64 runs.
     */
    @Test
    void aSenderThatClosesRightAfterItsWritesLosesNoneOfThem() throws Exception {
        int count = 100;
        for (int run = 0; run < 5; run++) {
            BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
            VSocketDatagramChannel rx = bind(received);
            VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
            try {
                linkOverShm(tx, rx, received);
                writeThenClose(tx, rx, count);
                receivedInOrder(received, count, "run " + run);
                assertEquals((long) count + 1, (long) onLoop(rx, rx::shmDatagramsReceived), "all over shm");
                waitForNoLinks(rx);
            } finally {
                tx.close().sync();
                rx.close().sync();
            }
        }
    }

    /**
     * The receiver of those datagrams writes to the sender that closed before it read them (an answer to
     * an earlier one): the write learns the peer is gone, and the link must still give up what the peer
     * wrote before it went (it went at once before: every one of them lost).
     */
    @Test
    void aWriteToAPeerThatClosedDoesNotLoseWhatThePeerSentBefore() throws Exception {
        int count = 100;
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(received);
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        InetSocketAddress txAddress = tx.localAddress();
        try {
            linkOverShm(tx, rx, received);
            assertTrue(rx.eventLoop() != tx.eventLoop(), "two loops");
            CountDownLatch txClosed = new CountDownLatch(1);
            // rx's loop is held while tx writes and closes: then rx writes to tx before it has read a thing.
            var held = rx.eventLoop().submit(() -> {
                assertTrue(txClosed.await(10, TimeUnit.SECONDS));
                Thread.sleep(50); // (tx's hang-up on its way)
                rx.writeAndFlush(packet("answer", txAddress));
                return null;
            });
            writeThenClose(tx, rx, count);
            txClosed.countDown();
            held.get(10, TimeUnit.SECONDS);
            receivedInOrder(received, count, "after the answer");
            waitForNoLinks(rx);
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /** {@code tx} writes {@code count} numbered datagrams to {@code rx} and closes, in one task on its loop. */
    private static void writeThenClose(VSocketDatagramChannel tx, VSocketDatagramChannel rx, int count) throws Exception {
        tx.eventLoop().submit(() -> {
            for (int i = 0; i < count; i++) {
                tx.write(numbered(i, rx.localAddress()));
            }
            tx.flush();
            tx.close();
        }).sync();
        tx.closeFuture().sync();
    }

    /** The numbered datagrams 0 to {@code count} - 1 came, each once, in order. */
    private static void receivedInOrder(BlockingQueue<DatagramPacket> received, int count, String what) throws Exception {
        for (int i = 0; i < count; i++) {
            DatagramPacket p = received.poll(5, TimeUnit.SECONDS);
            assertNotNull(p, what + ": datagram " + i + " of " + count + " lost");
            assertEquals(i, number(p), what + ": in order");
        }
    }

    /** A 1,000-byte datagram that carries {@code i}. */
    private static DatagramPacket numbered(int i, InetSocketAddress to) {
        ByteBuf b = Unpooled.buffer(1000).writeInt(i);
        b.writerIndex(1000);
        return new DatagramPacket(b, to);
    }

    private static int number(DatagramPacket p) {
        try {
            assertEquals(1000, p.content().readableBytes());
            return p.content().getInt(0);
        } finally {
            p.release();
        }
    }

    /** The receiver lets a link whose peer went go, once it has read what the peer left. */
    private static void waitForNoLinks(VSocketDatagramChannel rx) throws Exception {
        for (int i = 0; i < 250 && onLoop(rx, rx::shmLinks) > 0; i++) {
            Thread.sleep(20);
        }
        assertEquals(0, (int) onLoop(rx, rx::shmLinks), "the gone peer's link let go");
    }

    @Test
    void aKilledPeerProcessLosesItsLinkAtOnce() throws Exception {
        BlockingQueue<DatagramPacket> echoed = new LinkedBlockingQueue<>();
        VSocketDatagramChannel client = bind(echoed);
        try {
            DatagramEchoProcess.Started process = DatagramEchoProcess.start();
            try {
                InetSocketAddress to = new InetSocketAddress(LOCALHOST, process.port());
                askForShm(client, to, echoed, "first");
                client.writeAndFlush(packet("second", to)).sync();
                assertEquals("second", text(echoed.poll(5, TimeUnit.SECONDS)));
                assertEquals(1L, (long) onLoop(client, client::shmDatagramsSent));
                assertTrue(onLoop(client, client::shmLinks) >= 1);
            } finally {
                // SIGKILL: no flag in the shared page says it went; the link's Unix connection does.
                process.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                process.out().close();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (onLoop(client, client::shmLinks) > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(0, (int) onLoop(client, client::shmLinks), "the dead process's link is gone");
        } finally {
            client.close().sync();
        }
    }

    @Test
    void aProcessThatTookTheRendezvousNameGetsNoDatagrams() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        // The port's owner listens on the wildcard; another process of the same user (played here
        // by a bare listener) binds the exact name a sender to 127.0.0.1 looks for first.
        VSocketDatagramChannel rx = bind(new InetSocketAddress(0), received, new Bootstrap());
        int port = rx.localAddress().getPort();
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try (io.vsocket.unix.UnixSocket squatter = io.vsocket.unix.UnixSocket.listen("vsocket/udp/127.0.0.1:" + port, 8)) {
            InetSocketAddress to = new InetSocketAddress(LOCALHOST, port);
            for (int i = 0; i < 30; i++) {
                tx.writeAndFlush(packet("s" + i, to)).sync();
                assertEquals("s" + i, text(received.poll(5, TimeUnit.SECONDS)), "every datagram reaches the owner");
                Thread.sleep(100);
            }
            // The squatter took the set-up but could not confirm it (it never saw the owner's token):
            // nothing went over shared memory, and the link was given up.
            assertEquals(0L, (long) onLoop(tx, tx::shmDatagramsSent));
            assertEquals(0, (int) onLoop(tx, tx::shmLinks));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void aWildcardBoundChannelIsFoundAtALoopbackAddress() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(new InetSocketAddress(0), received, new Bootstrap());
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            InetSocketAddress to = new InetSocketAddress(LOCALHOST, rx.localAddress().getPort());
            askForShm(tx, to, received, "one");
            tx.writeAndFlush(packet("two", to)).sync();
            DatagramPacket p = received.poll(5, TimeUnit.SECONDS);
            assertEquals(tx.localAddress(), p.sender());
            assertEquals("two", text(p));
            assertEquals(1L, (long) onLoop(tx, tx::shmDatagramsSent));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void withAutoReadOffShmDatagramsWaitForTheApplication() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(received);
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            askForShm(tx, rx.localAddress(), received, "on");
            // On the loop: from another thread, a datagram the loop handles before the task that
            // clears the pending read would still be delivered (on NIO too).
            rx.eventLoop().submit(() -> rx.config().setAutoRead(false)).sync();
            for (int i = 0; i < 3; i++) {
                tx.writeAndFlush(packet("off" + i, rx.localAddress())).sync();
            }
            assertNull(received.poll(300, TimeUnit.MILLISECONDS), "delivered without a read()");
            assertEquals(3L, (long) onLoop(tx, tx::shmDatagramsSent));
            rx.read();
            assertEquals("off0", text(received.poll(5, TimeUnit.SECONDS)));
            rx.config().setAutoRead(true);
            assertEquals("off1", text(received.poll(5, TimeUnit.SECONDS)));
            assertEquals("off2", text(received.poll(5, TimeUnit.SECONDS)));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /**
     * An application that raises {@code SO_RCVBUF} to ride out a burst while it does not read keeps
     * the burst over shm as over UDP (on NIO and epoll 5,000 of 5,000 such datagrams wait in a 4 MiB
     * buffer): the backlog follows the receive buffer, and small datagrams count by their own bytes,
     * not by the 2 KiB buffers they were read into. With the default buffer the backlog stays bounded.
     */
    @Test
    void aLargerReceiveBufferKeepsABurstWhileTheApplicationDoesNotRead() throws Exception {
        assumeLargeReceiveBuffers();
        int count = 5000;
        int kept = burstWhileNotReading(new Bootstrap().option(ChannelOption.SO_RCVBUF, 4 * 1024 * 1024), count);
        assertEquals(count, kept, "datagrams kept for the application with a 4 MiB receive buffer");
        int keptByDefault = burstWhileNotReading(new Bootstrap(), count);
        assertTrue(keptByDefault < count, "the default receive buffer bounds the backlog: kept " + keptByDefault);
    }

    /**
     * The same burst, sent at once, to a reader whose handler takes 200 µs a datagram on its loop:
     * meanwhile nothing drains the shm ring, so the ring the reader asked for (its receive buffer) is
     * what holds the burst, as the kernel's buffer holds it for NIO.
     */
    @Test
    void aLargerReceiveBufferHoldsABurstForASlowHandler() throws Exception {
        assumeLargeReceiveBuffers();
        int count = 5000;
        java.util.concurrent.atomic.AtomicInteger kept = new java.util.concurrent.atomic.AtomicInteger();
        BlockingQueue<DatagramPacket> first = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = (VSocketDatagramChannel) new Bootstrap().group(group)
                .channel(VSocketDatagramChannel.class).option(ChannelOption.SO_RCVBUF, 4 * 1024 * 1024)
                .handler(new SimpleChannelInboundHandler<DatagramPacket>(false) {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket msg) {
                        if (msg.content().readableBytes() == 200) {
                            kept.incrementAndGet();
                            msg.release();
                            java.util.concurrent.locks.LockSupport.parkNanos(200_000);
                        } else {
                            first.add(msg);
                        }
                    }
                }).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            linkOverShm(tx, rx, first);
            byte[] payload = new byte[200];
            tx.eventLoop().submit(() -> {
                for (int i = 0; i < count; i++) {
                    tx.write(new DatagramPacket(Unpooled.wrappedBuffer(payload), rx.localAddress()));
                }
                tx.flush();
            }).sync();
            for (int i = 0; i < 200 && kept.get() < count; i++) {
                Thread.sleep(50);
            }
            assertEquals(count, kept.get(), "datagrams the slow handler got with a 4 MiB receive buffer");
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /**
     * The kernel grants a 4 MiB receive buffer only up to {@code net.core.rmem_max} (a stock kernel's
     * is 208 KiB, as NIO's and epoll's channels would then keep far fewer too): these tests need it.
     */
    private static void assumeLargeReceiveBuffers() throws Exception {
        try (java.net.DatagramSocket probe = new java.net.DatagramSocket(0, LOCALHOST)) {
            probe.setReceiveBufferSize(4 * 1024 * 1024);
            org.junit.jupiter.api.Assumptions.assumeTrue(probe.getReceiveBufferSize() >= 4 * 1024 * 1024,
                    "net.core.rmem_max below 4 MiB: the kernel gives " + probe.getReceiveBufferSize() + " bytes");
        }
    }

    /**
     * Gets {@code tx}'s datagrams to {@code rx} onto shm: the first goes over UDP while the link is set
     * up, the second over the link ({@code received}: what {@code rx}'s handler gets).
     */
    /**
     * How many datagrams a channel sends a peer over UDP before it asks the peer for shm (a set-up a peer
     * sent only one or two never earns back: {@code ShmDatagramPath.DATAGRAMS_BEFORE_SHM}, which the same
     * property sets).
     */
    static final int SENT_BEFORE_SHM = Math.max(1, Integer.getInteger("io.vsocket.datagramShmAfter", 4));

    /**
     * Sends {@code text} to {@code to} {@link #SENT_BEFORE_SHM} times, each taken off {@code received} (its
     * delivery, or its echo), the last of them asking the peer for shm; then waits until the peer confirmed
     * the link (10 s at most): the next datagram goes over it. (A fixed wait raced the set-up, some
     * milliseconds warm and hundreds in a cold JVM, a child process's above all.)
     */
    private static void askForShm(VSocketDatagramChannel tx, InetSocketAddress to, BlockingQueue<DatagramPacket> received,
            String text) throws Exception {
        for (int i = 0; i < SENT_BEFORE_SHM; i++) {
            tx.writeAndFlush(packet(text, to)).sync();
            assertEquals(text, text(received.poll(10, TimeUnit.SECONDS)), "datagram " + (i + 1) + " over UDP");
        }
        awaitShmTo(tx, to);
    }

    /** Waits until {@code tx}'s datagrams to {@code to} go over a confirmed shm link (10 s at most). */
    private static void awaitShmTo(VSocketDatagramChannel tx, InetSocketAddress to) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!onLoop(tx, () -> tx.sendsOverShmTo(to))) {
            assertTrue(System.nanoTime() < deadline, "no shm link to " + to + " within 10 s");
            Thread.sleep(5);
        }
    }

    private static void linkOverShm(VSocketDatagramChannel tx, VSocketDatagramChannel rx,
            BlockingQueue<DatagramPacket> received) throws Exception {
        askForShm(tx, rx.localAddress(), received, "on");
        tx.writeAndFlush(packet("shm", rx.localAddress())).sync();
        assertEquals("shm", text(received.poll(5, TimeUnit.SECONDS)));
        assertEquals(1L, (long) onLoop(tx, tx::shmDatagramsSent), "the datagram after them went over shm");
    }

    /** Sends {@code count} datagrams of 200 bytes over shm to a channel not reading; how many it then reads. */
    private static int burstWhileNotReading(Bootstrap options, int count) throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(new InetSocketAddress(LOCALHOST, 0), received, options);
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            linkOverShm(tx, rx, received);
            rx.eventLoop().submit(() -> rx.config().setAutoRead(false)).sync();
            byte[] payload = new byte[200];
            for (int i = 0; i < count; i += 50) {
                // In steps the receiver's loop keeps up with (its ring holds about a thousand): what is
                // measured is what waits for the application, not the ring between the loops.
                for (int j = i; j < i + 50; j++) {
                    tx.write(new DatagramPacket(Unpooled.wrappedBuffer(payload), rx.localAddress()));
                }
                tx.flush();
                Thread.sleep(1);
            }
            tx.writeAndFlush(packet("last", rx.localAddress())).sync();
            Thread.sleep(300);
            assertNull(received.poll(), "delivered without a read()");
            rx.config().setAutoRead(true);
            int kept = 0;
            DatagramPacket p;
            while ((p = received.poll(500, TimeUnit.MILLISECONDS)) != null) {
                if (p.content().readableBytes() == 200) {
                    kept++;
                }
                p.release();
            }
            return kept;
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    /**
     * A channel not reading still reads its socket (resolution goes on), holding the application's
     * datagrams: that turn is none of the application's, so its handlers see no read-complete (one
     * that calls {@code read()} there, a common back-pressure pattern, would be pulled into reading).
     */
    @Test
    void datagramsHeldWhileTheApplicationDoesNotReadFireNoReadComplete() throws Exception {
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger completes = new java.util.concurrent.atomic.AtomicInteger();
        VSocketDatagramChannel rx = (VSocketDatagramChannel) new Bootstrap().group(group)
                .channel(VSocketDatagramChannel.class).option(ChannelOption.AUTO_READ, false)
                .handler(new io.netty.channel.ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        reads.incrementAndGet();
                        io.netty.util.ReferenceCountUtil.release(msg);
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        completes.incrementAndGet();
                    }
                }).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
        try (java.net.DatagramSocket plain = new java.net.DatagramSocket(0, LOCALHOST)) {
            for (int i = 0; i < 20; i++) {
                plain.send(new java.net.DatagramPacket(new byte[32], 32, rx.localAddress()));
            }
            Thread.sleep(300);
            assertEquals(0, reads.get(), "delivered without a read()");
            assertEquals(0, completes.get(), "read-completes for turns that delivered nothing");
            rx.read();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (completes.get() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            Thread.sleep(100); // (room for a stray one)
            assertTrue(reads.get() >= 1, "a read() delivers");
            assertEquals(1, completes.get(), "one read-complete for the read()'s batch");
        } finally {
            rx.close().sync();
        }
    }

    /**
     * A turn over shm hands the pipeline at most the allocator's messages per read before its
     * read-complete, as a socket read turn does (NIO and epoll: 25 batches of 4 for 100 datagrams), so
     * a handler that flushes in {@code channelReadComplete} answers in batches, and one channel does
     * not hold its loop for a whole ring of datagrams.
     */
    @Test
    void aTurnOverShmHandsAtMostTheAllocatorsMessagesPerRead() throws Exception {
        java.util.List<Integer> batches = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        java.util.concurrent.atomic.AtomicInteger inBatch = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger total = new java.util.concurrent.atomic.AtomicInteger();
        io.netty.channel.EventLoop rxLoop = group.next();
        io.netty.channel.EventLoop txLoop = group.next();
        assertTrue(rxLoop != txLoop, "two loops");
        VSocketDatagramChannel rx = (VSocketDatagramChannel) new Bootstrap().group(rxLoop)
                .channel(VSocketDatagramChannel.class)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new io.netty.channel.FixedRecvByteBufAllocator(2048).maxMessagesPerRead(4))
                .handler(new io.netty.channel.ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        inBatch.incrementAndGet();
                        total.incrementAndGet();
                        io.netty.util.ReferenceCountUtil.release(msg);
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        batches.add(inBatch.getAndSet(0));
                    }
                }).bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
        VSocketDatagramChannel tx = (VSocketDatagramChannel) new Bootstrap().group(txLoop)
                .channel(VSocketDatagramChannel.class).handler(new io.netty.channel.ChannelInboundHandlerAdapter())
                .bind(new InetSocketAddress(LOCALHOST, 0)).sync().channel();
        try {
            for (int i = 0; i < SENT_BEFORE_SHM; i++) {
                tx.writeAndFlush(packet("on", rx.localAddress())).sync(); // over UDP, the last while the link is set up
            }
            Thread.sleep(200);
            tx.writeAndFlush(packet("shm", rx.localAddress())).sync();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (total.get() < SENT_BEFORE_SHM + 1 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1L, (long) onLoop(tx, tx::shmDatagramsSent), "the datagram after them went over shm");
            // Written while the receiver's loop is held, so that all 100 wait in the ring at once.
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            rx.eventLoop().execute(() -> {
                try {
                    release.await(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            batches.clear();
            onLoop(tx, () -> {
                for (int i = 0; i < 100; i++) {
                    tx.write(packet("d" + i, rx.localAddress()));
                }
                tx.flush();
                return null;
            });
            release.countDown();
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (total.get() < SENT_BEFORE_SHM + 101 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(SENT_BEFORE_SHM + 101, total.get(), "datagrams delivered");
            assertTrue(batches.stream().allMatch(n -> n <= 4), "batches of at most 4: " + batches);
            assertTrue(batches.size() >= 25, "batches: " + batches);
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void turnedOffNothingGoesOverShm() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(new InetSocketAddress(LOCALHOST, 0), received,
                new Bootstrap().option(VSocketChannelOption.DATAGRAM_SHM, false));
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            assertFalse(rx.hasShmRendezvous());
            for (int i = 0; i < 5; i++) {
                tx.writeAndFlush(packet("x" + i, rx.localAddress())).sync();
                assertEquals("x" + i, text(received.poll(5, TimeUnit.SECONDS)));
                Thread.sleep(50);
            }
            assertEquals(0L, (long) onLoop(tx, tx::shmDatagramsSent));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
    }

    @Test
    void channelsThatTalkedOverShmLeaveNoDescriptorAfterClose() throws Exception {
        // Warm up: the loops' descriptors and the JDK's come first.
        cycle();
        long before = openDescriptors();
        for (int i = 0; i < 30; i++) {
            cycle();
        }
        assertEquals(before, openDescriptors());
    }

    private static void cycle() throws Exception {
        BlockingQueue<DatagramPacket> received = new LinkedBlockingQueue<>();
        VSocketDatagramChannel rx = bind(received);
        VSocketDatagramChannel tx = bind(new LinkedBlockingQueue<>());
        try {
            askForShm(tx, rx.localAddress(), received, "a");
            tx.writeAndFlush(packet("b", rx.localAddress())).sync();
            assertEquals("b", text(received.poll(5, TimeUnit.SECONDS)));
        } finally {
            tx.close().sync();
            rx.close().sync();
        }
        // The receiver's side of the link goes on its loop's next look at it.
        Thread.sleep(20);
    }

    /** A peer's descriptors this process refused may still be closing on their own thread: counted after. */
    private static void settlePeerDescriptors() {
        try {
            io.vsocket.unix.PeerDescriptors.settle(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long openDescriptors() {
        settlePeerDescriptors();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Datagram channels that share a port with {@code SO_REUSEPORT} (epoll's constant, as an application moved
     * from epoll sets it) stay on UDP: the kernel picks the socket for each sender's datagrams, and an
     * application such as a QUIC server keeps that sender's state there; a shm link would move them to
     * whichever channel held the port's shm name. Without the option the second bind fails as before.
     */
    @Test
    void channelsThatShareAPortWithSoReusePortStayOnUdp() throws Exception {
        List<BlockingQueue<DatagramPacket>> received = List.of(new LinkedBlockingQueue<>(), new LinkedBlockingQueue<>());
        VSocketDatagramChannel[] shared = new VSocketDatagramChannel[2];
        VSocketDatagramChannel sender = bind(new LinkedBlockingQueue<>());
        try {
            InetSocketAddress at = new InetSocketAddress(LOCALHOST, 0);
            for (int i = 0; i < 2; i++) {
                shared[i] = bind(at, received.get(i), new Bootstrap().option(io.netty.channel.epoll.EpollChannelOption.SO_REUSEPORT, true));
                at = shared[0].localAddress();
                assertEquals(Boolean.TRUE, shared[i].config().getOption(io.netty.channel.epoll.EpollChannelOption.SO_REUSEPORT));
                assertFalse(shared[i].hasShmRendezvous(), "a shared port takes no shm peers");
            }
            ChannelFuture unshared = new Bootstrap().group(group).channel(VSocketDatagramChannel.class)
                    .handler(new io.netty.channel.ChannelInboundHandlerAdapter()).bind(at).await();
            assertTrue(unshared.cause() instanceof java.net.BindException, String.valueOf(unshared.cause()));
            for (int i = 0; i < 50; i++) {
                sender.writeAndFlush(packet("s" + i, at)).sync();
                Thread.sleep(2);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (received.get(0).size() + received.get(1).size() < 50 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Thread.sleep(200); // (a duplicate would come now)
            assertEquals(50, received.get(0).size() + received.get(1).size(), "every datagram arrived once");
            assertEquals(0L, (long) onLoop(sender, sender::shmDatagramsSent), "none over shm");
            for (BlockingQueue<DatagramPacket> q : received) {
                for (DatagramPacket p; (p = q.poll()) != null; ) {
                    assertEquals(sender.localAddress(), p.sender());
                    p.release();
                }
            }
        } finally {
            sender.close().sync();
            for (VSocketDatagramChannel ch : shared) {
                if (ch != null) {
                    ch.close().sync();
                }
            }
        }
    }
}
