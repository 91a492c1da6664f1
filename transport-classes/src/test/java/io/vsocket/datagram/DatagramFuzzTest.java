package io.vsocket.datagram;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.vsocket.link.shm.InProcessShm;
import io.vsocket.link.shm.ShmLink;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.unix.FileDescriptors;
import io.vsocket.verbs.Gid;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a datagram channel takes from the network and from a same-host peer.
 *
 * <p>{@link #resolver}: a {@link PeerResolver} fed UDP datagrams from any of a few senders (any
 * bytes, or resolution messages with any fields, echoing nonces and tokens it handed out or not),
 * interleaved with routeTo, senderOf, expire and shmGone on a fake clock. Nothing it does may
 * throw; it must take exactly the datagrams its javadoc calls resolution messages, answer only
 * requests, at most once per requester per reply interval, with well-formed replies, and name a
 * UD sender only as the token's requester announced it.
 *
 * <p>{@link #shmRecords}: a {@link ShmDatagramLink} whose peer writes any bytes into its ring. The
 * link must report exactly the records its javadoc describes, refuse impossible ones with a
 * {@link RingProtocolException}, and never return a byte other than the ones written.
 */
class DatagramFuzzTest {
    private static final long MS = 1_000_000;
    private static final PeerResolver.Config CONFIG =
            new PeerResolver.Config(1000 * MS, 3000 * MS, 6000 * MS, 10_000 * MS, 1000 * MS, 8000 * MS, 100 * MS, 3, 3);
    private static final InetSocketAddress[] PEERS = {new InetSocketAddress("10.0.0.2", 5000),
            new InetSocketAddress("10.0.0.3", 5000), new InetSocketAddress("10.0.0.2", 5001),
            new InetSocketAddress("fd00::4", 5000)};

    /** A reply the resolver sent: to whom, and the endpoint of the request it answered. */
    private record Granted(InetSocketAddress requester, long token, int qpNumber, long gidHigh, long gidLow) {
    }

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void resolver(FuzzedDataProvider data) {
        PeerResolverTest.FakeLocal local = data.consumeBoolean() ? null
                : new PeerResolverTest.FakeLocal(Gid.of(new byte[] {(byte) 0xfe, (byte) 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 1}), 0x11, 0x1234, 4000);
        List<long[]> expected = new ArrayList<>(); // token, nonce, as the shm side was told
        boolean offersShm = data.consumeBoolean(); // requesters on this host, or elsewhere
        boolean noShmSide = data.consumeBoolean();
        long seed = data.consumeLong();
        // What this side's receive buffer asks for (the resolver clamps it to 0..7); taken from the
        // seed so that the inputs kept from before it existed decode as they did.
        int ringShift = (int) Math.floorMod(seed, 11L) - 1;
        PeerResolver.ShmSide shm = noShmSide ? null : new PeerResolver.ShmSide() {
            @Override
            public boolean offersTo(InetSocketAddress requester) {
                return offersShm;
            }

            @Override
            public void offered(PeerRoute peer) {
                // the channel would set up its link now; nothing here
            }

            @Override
            public int receiveRingShift() {
                return ringShift;
            }

            @Override
            public void expect(InetSocketAddress requester, long token, long nonce, int shift) {
                expected.add(new long[] {token, nonce, shift});
            }
        };
        List<Object[]> sent = new ArrayList<>(); // recipient, bytes
        PeerResolver resolver = new PeerResolver(local, shm, (to, message) -> sent.add(
                new Object[] {to, ByteBufUtil.getBytes(message)}), new SplittableRandom(seed), CONFIG);
        Map<InetSocketAddress, Long> nonces = new HashMap<>(); // the latest request to each peer
        Map<InetSocketAddress, Long> repliedAt = new HashMap<>();
        List<Granted> granted = new ArrayList<>();
        long now = data.consumeLong(); // a nanoTime: any origin, differences only
        while (data.remainingBytes() > 0) {
            InetSocketAddress peer = PEERS[data.consumeInt(0, PEERS.length - 1)];
            int before = sent.size();
            int expectedBefore = expected.size();
            boolean request = false;
            switch (data.consumeInt(0, 6)) {
                case 0 -> {
                    int offset = data.consumeInt(0, 3);
                    ByteBuf content = Unpooled.buffer().writeZero(offset).readerIndex(offset);
                    if (data.consumeBoolean()) {
                        content.writeBytes(data.consumeBytes(data.consumeInt(0, 80)));
                    } else {
                        request = data.consumeBoolean();
                        long nonce = data.consumeBoolean() && nonces.containsKey(peer) ? nonces.get(peer)
                                : data.consumeLong();
                        content.writeLong(PeerResolver.MAGIC)
                                .writeByte(request ? PeerResolver.REQUEST : PeerResolver.REPLY).writeLong(nonce);
                        if (!request) {
                            content.writeLong(data.consumeBoolean() ? 0 : data.consumeLong());
                        }
                        content.writeBytes(data.consumeBytes(16)).writeInt(data.consumeInt(0, 1 << 25))
                                .writeInt(data.consumeInt()).writeInt(data.consumeInt(-1, 70_000))
                                .writeByte(data.consumeInt(0, 17)).writeZero(request ? 8 : 0);
                        content.writerIndex(Math.max(offset, content.writerIndex() + data.consumeInt(-1, 1)));
                    }
                    int length = content.readableBytes();
                    // (A "gone" message — an endpoint that closed — is the resolver's too.)
                    boolean resolution = length == PeerResolver.LENGTH && content.getLong(offset) == PeerResolver.MAGIC
                            && (content.getByte(offset + 8) == PeerResolver.REQUEST
                            || content.getByte(offset + 8) == PeerResolver.REPLY
                            || content.getByte(offset + 8) == PeerResolver.GONE);
                    request = resolution && content.getByte(offset + 8) == PeerResolver.REQUEST;
                    assertEquals(resolution, resolver.onUdpDatagram(peer, content, now), "taken or left to the application");
                    assertEquals(offset, content.readerIndex(), "the datagram's indexes moved");
                    assertEquals(offset + length, content.writerIndex(), "the datagram's indexes moved");
                    byte[] reply = replyAmong(sent, before);
                    if (reply != null) {
                        ByteBuf r = Unpooled.wrappedBuffer(reply);
                        assertTrue(request, "a reply to anything but a request");
                        assertEquals(content.getLong(offset + 9), r.getLong(9), "the reply echoes the nonce");
                        Long last = repliedAt.put(peer, now);
                        assertTrue(last == null || now - last >= CONFIG.replyInterval(), "replied again too soon");
                        granted.add(new Granted(peer, r.getLong(17), content.getInt(offset + 33),
                                content.getLong(offset + 17), content.getLong(offset + 25)));
                        for (int i = expectedBefore; i < expected.size(); i++) {
                            assertEquals(r.getLong(17), expected.get(i)[0], "the shm side expects another token");
                            assertEquals(r.getLong(9), expected.get(i)[1], "the shm side expects another nonce");
                            long shift = Math.max(0, Math.min(PeerResolver.MAX_SHM_RING_SHIFT, ringShift));
                            assertEquals(shift, expected.get(i)[2], "the shm side expects another ring");
                            assertEquals(PeerResolver.SHM | shift << 1, r.getByte(53), "the reply asks for another ring");
                        }
                    }
                    assertTrue(expected.size() == expectedBefore || reply != null, "shm expected without a reply");
                }
                case 1 -> {
                    PeerRoute route = resolver.routeTo(peer, now, data.consumeBoolean());
                    if (route != null) {
                        assertSame(peer, route.address());
                        assertTrue(route.route() != null || route.shm(), "a route to nowhere");
                        if (route.route() != null) {
                            UdRoute r = route.route();
                            assertTrue(r.qpNumber() >= 2 && r.qpNumber() <= 0xff_ffff && r.qkey() >= 0
                                    && r.maxPayload() >= 1 && r.maxPayload() <= 65536, "an impossible route " + r);
                        }
                        assertTrue(route.token() != 0, "a route without a token");
                    }
                }
                case 2 -> {
                    Granted g = granted.isEmpty() ? null : granted.get(data.consumeInt(0, granted.size() - 1));
                    boolean real = g != null && data.consumeBoolean();
                    long token = real ? g.token() : data.consumeLong();
                    int qpn = real && data.consumeBoolean() ? g.qpNumber() : data.consumeInt();
                    long high = real && data.consumeBoolean() ? g.gidHigh() : data.consumeLong();
                    long low = real && data.consumeBoolean() ? g.gidLow() : data.consumeLong();
                    InetSocketAddress sender = resolver.senderOf(token, qpn, high, low, now);
                    if (sender != null) {
                        assertTrue(granted.contains(new Granted(sender, token, qpn, high, low)),
                                "a UD datagram believed without its requester's token and endpoint");
                    }
                }
                case 3 -> assertTrue(resolver.expire(now) >= 0);
                case 4 -> resolver.shmGone(peer, now, data.consumeBoolean());
                case 5 -> {
                    if (local != null) {
                        local.refuse = data.consumeBoolean();
                    }
                    resolver.isPending(peer, now);
                }
                default -> now += data.consumeLong(0, 20_000 * MS);
            }
            int replies = 0;
            for (int i = before; i < sent.size(); i++) {
                byte[] message = (byte[]) sent.get(i)[1];
                ByteBuf m = Unpooled.wrappedBuffer(message);
                assertEquals(PeerResolver.LENGTH, message.length);
                assertEquals(PeerResolver.MAGIC, m.getLong(0));
                if (m.getByte(8) == PeerResolver.REPLY) {
                    assertTrue(++replies == 1 && request, "a reply to anything but one request");
                    assertTrue(m.getLong(17) != 0, "a reply with token 0");
                } else {
                    assertEquals(PeerResolver.REQUEST, m.getByte(8));
                    nonces.put((InetSocketAddress) sent.get(i)[0], m.getLong(9));
                }
            }
            assertTrue(resolver.peerCount() <= CONFIG.maxPeers() && resolver.inboundCount() <= CONFIG.maxInbound(),
                    resolver.peerCount() + " peers and " + resolver.inboundCount() + " tokens kept");
        }
    }

    private static final int RING = 4096;
    private static final int CONFIRMATION = -1;
    /** The token the peer's confirmation must hold. */
    private static final long TOKEN = 0x5eed_5eed_5eed_5eedL;

    @FuzzTest
    @Timeout(30) // a hang; generous, as the first input also loads and instruments all it touches
    void shmRecords(FuzzedDataProvider data) throws Exception {
        InProcessShm.Sides sides = InProcessShm.connect(RING, RING);
        ShmLink peer = sides.server();
        ShmDatagramLink link = ShmDatagramLink.offered(sides.client(), PEERS[0], TOKEN);
        ByteArrayOutputStream stream = new ByteArrayOutputStream(); // every byte the peer published
        int parsed = 0; // what the link has consumed of it, by the javadoc's reading
        int awaiting = -1;
        boolean confirmed = false;
        try {
            while (data.remainingBytes() > 0) {
                switch (data.consumeInt(0, 4)) {
                    case 0 -> {
                        ByteBuf bytes = Unpooled.buffer();
                        if (data.consumeBoolean()) {
                            int length = data.consumeBoolean() ? CONFIRMATION : data.consumeInt(-2, RING);
                            bytes.writeInt(length);
                            if (length == CONFIRMATION) {
                                bytes.writeLong(data.consumeBoolean() ? TOKEN : data.consumeLong());
                            } else {
                                bytes.writeBytes(data.consumeBytes(Math.max(length, 0)));
                            }
                        } else {
                            bytes.writeBytes(data.consumeBytes(data.consumeInt(0, 300)));
                        }
                        int written = peer.write(bytes, 0, bytes.readableBytes());
                        peer.publish();
                        stream.write(bytes.array(), bytes.arrayOffset(), written);
                    }
                    case 1, 2, 3 -> {
                        // The link's next(), as its javadoc reads the stream.
                        byte[] all = stream.toByteArray();
                        ByteBuf in = Unpooled.wrappedBuffer(all);
                        int next = -2;
                        int at = parsed;
                        boolean expectConfirmed = confirmed;
                        int expectAwaiting = awaiting;
                        while (expectAwaiting < 0 && next == -2) {
                            if (all.length - at < 4) {
                                next = -1;
                                break;
                            }
                            int length = in.getInt(at);
                            at += 4;
                            if (length == CONFIRMATION && !expectConfirmed) {
                                // Its token follows at once, and must be the one handed out.
                                if (all.length - at < 8 || in.getLong(at) != TOKEN) {
                                    next = -3;
                                } else {
                                    at += 8;
                                    expectConfirmed = true;
                                }
                            } else if (length < 0 || length > RING - 4 || !expectConfirmed) {
                                next = -3; // a protocol error
                            } else {
                                expectAwaiting = length;
                            }
                        }
                        if (next == -2) {
                            next = all.length - at >= expectAwaiting ? expectAwaiting : -1;
                        }
                        int got;
                        try {
                            got = link.next();
                        } catch (RingProtocolException e) {
                            assertEquals(-3, next, "refused a record its javadoc allows: " + e.getMessage());
                            return;
                        }
                        assertEquals(next, got, "next() disagrees with the records written");
                        assertEquals(expectConfirmed, link.confirmed());
                        parsed = at;
                        confirmed = expectConfirmed;
                        awaiting = expectAwaiting;
                        if (got < 0) {
                            continue;
                        }
                        int max = data.consumeInt(0, RING);
                        ByteBuf dst = Unpooled.buffer().writeZero(data.consumeInt(0, 3));
                        int start = dst.writerIndex();
                        if (data.consumeBoolean()) {
                            link.readPayload(dst, max);
                            int n = Math.min(got, max);
                            assertEquals(start + n, dst.writerIndex(), "a datagram read returned other than its bytes");
                            byte[] payload = new byte[n];
                            System.arraycopy(all, parsed, payload, 0, n);
                            assertArrayEquals(payload, ByteBufUtil.getBytes(dst, start, n), "the bytes of a datagram");
                        } else {
                            link.skipPayload();
                        }
                        parsed += awaiting;
                        awaiting = -1;
                    }
                    default -> { // before a sleep: all credit goes back
                        link.link().park(true, false);
                        link.link().unpark();
                    }
                }
            }
        } finally {
            link.close();
            peer.close();
        }
    }

    private static byte[] replyAmong(List<Object[]> sent, int from) {
        for (int i = from; i < sent.size(); i++) {
            byte[] message = (byte[]) sent.get(i)[1];
            if (message.length > 8 && message[8] == PeerResolver.REPLY) {
                return message;
            }
        }
        return null;
    }
}
