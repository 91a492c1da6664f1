package io.vsocket.datagram;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vsocket.verbs.Gid;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The resolution protocol between two resolvers over a fake UDP network with a fake clock: round
 * trips, refresh and expiry, the negative cache and its backoff, and hostile or broken messages.
 */
class PeerResolverTest {
    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long S = TimeUnit.SECONDS.toNanos(1);
    private static final InetSocketAddress A = address("10.0.0.1", 4000);
    private static final InetSocketAddress B = address("10.0.0.2", 5000);
    private static final InetSocketAddress C = address("10.0.0.3", 6000);

    /** Datagrams sent and not yet delivered, in order: from, to, bytes. */
    private final ArrayDeque<Object[]> wire = new ArrayDeque<>();
    private final Map<InetSocketAddress, PeerResolver> hosts = new HashMap<>();
    /** What the resolvers let through to the application. */
    private int deliveredToApplication;
    private long now = 1_000 * S;
    private FakeLocal localA;
    private FakeLocal localB;
    private PeerResolver a;
    private PeerResolver b;

    private static InetSocketAddress address(String ip, int port) {
        try {
            return new InetSocketAddress(InetAddress.getByName(ip), port);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static Gid gidOf(String ip) {
        return Gid.of(address(ip, 1).getAddress());
    }

    /** A UD endpoint that makes routes without a device. */
    static final class FakeLocal implements PeerResolver.Local {
        final Gid gid;
        int qpNumber;
        final int qkey;
        final int maxPayload;
        int routesMade;
        boolean refuse;

        FakeLocal(Gid gid, int qpNumber, int qkey, int maxPayload) {
            this.gid = gid;
            this.qpNumber = qpNumber;
            this.qkey = qkey;
            this.maxPayload = maxPayload;
        }

        @Override
        public Gid gid() {
            return gid;
        }

        @Override
        public int qpNumber() {
            return qpNumber;
        }

        @Override
        public int qkey() {
            return qkey;
        }

        @Override
        public int maxPayload() {
            return maxPayload;
        }

        @Override
        public UdRoute route(Gid gid, int qpNumber, int qkey, int peerMaxPayload) throws IOException {
            if (refuse) {
                throw new IOException("no address handle");
            }
            routesMade++;
            return new UdRoute(null, null, gid, qpNumber, qkey, Math.min(maxPayload, peerMaxPayload));
        }
    }

    @BeforeEach
    void setUp() {
        localA = new FakeLocal(gidOf("10.0.0.1"), 0x11, 0x1234, 4087);
        localB = new FakeLocal(gidOf("10.0.0.2"), 0x22, 0x5678, 1015);
        a = host(A, localA, PeerResolver.Config.DEFAULT);
        b = host(B, localB, PeerResolver.Config.DEFAULT);
    }

    private PeerResolver host(InetSocketAddress address, FakeLocal local, PeerResolver.Config config) {
        return host(address, local, null, config);
    }

    private PeerResolver host(InetSocketAddress address, FakeLocal local, PeerResolver.ShmSide shm, PeerResolver.Config config) {
        PeerResolver r = new PeerResolver(local, shm, (to, message) -> {
            byte[] bytes = new byte[message.readableBytes()];
            message.getBytes(message.readerIndex(), bytes);
            wire.add(new Object[] {address, to, bytes});
        }, new SplittableRandom(address.getPort()), config);
        hosts.put(address, r);
        return r;
    }

    /** Delivers everything on the wire (and what that provokes) to its resolver; returns how many. */
    private int deliverAll() {
        int n = 0;
        while (!wire.isEmpty()) {
            deliver(wire.poll());
            n++;
        }
        return n;
    }

    private void deliver(Object[] datagram) {
        PeerResolver to = hosts.get((InetSocketAddress) datagram[1]);
        if (to != null && !to.onUdpDatagram((InetSocketAddress) datagram[0], Unpooled.wrappedBuffer((byte[]) datagram[2]), now)) {
            deliveredToApplication++;
        }
    }

    private byte[] takeOne() {
        assertEquals(1, wire.size(), "datagrams on the wire");
        return (byte[]) wire.poll()[2];
    }

    private static long nonceOf(byte[] request) {
        return Unpooled.wrappedBuffer(request).getLong(9);
    }

    private static long tokenOf(byte[] reply) {
        return Unpooled.wrappedBuffer(reply).getLong(17);
    }

    /** A REPLY as a responder would write it. */
    private static ByteBuf reply(long nonce, long token, Gid gid, int qpn, int qkey, int maxPayload) {
        return Unpooled.buffer().writeLong(PeerResolver.MAGIC).writeByte(PeerResolver.REPLY).writeLong(nonce)
                .writeLong(token).writeBytes(gid.toByteArray()).writeInt(qpn).writeInt(qkey).writeInt(maxPayload)
                .writeByte(0);
    }

    /** A REQUEST as a requester would write it. */
    private static ByteBuf request(long nonce, Gid gid, int qpn, int qkey, int maxPayload) {
        return Unpooled.buffer().writeLong(PeerResolver.MAGIC).writeByte(PeerResolver.REQUEST).writeLong(nonce)
                .writeBytes(gid.toByteArray()).writeInt(qpn).writeInt(qkey).writeInt(maxPayload).writeZero(9);
    }

    /** A resolves B: request, reply, done. */
    private PeerRoute resolveBFromA() {
        assertNull(a.routeTo(B, now), "nothing known yet: UDP");
        assertEquals(2, deliverAll(), "a request and its reply");
        PeerRoute route = a.routeTo(B, now);
        assertNotNull(route, "resolved");
        return route;
    }

    @Test
    void aRequestAndItsReplyResolveThePeersEndpoint() {
        assertNull(a.routeTo(B, now));
        byte[] request = takeOne();
        assertEquals(PeerResolver.LENGTH, request.length);
        wire.add(new Object[] {A, B, request});
        deliverAll();
        assertEquals(1, b.repliesSent());
        PeerRoute route = a.routeTo(B, now);
        assertNotNull(route);
        assertEquals(B, route.address());
        assertEquals(localB.gid, route.route().gid());
        assertEquals(0x22, route.route().qpNumber());
        assertEquals(0x5678, route.route().qkey());
        assertEquals(1015, route.route().maxPayload(), "the smaller side's payload limit");
        assertEquals(1, a.requestsSent());
        assertEquals(1, a.resolved());
        assertEquals(0, deliveredToApplication, "resolution messages never reach the application");
        // B knows A's datagrams by the token it handed out, from A's queue pair and GID only.
        long gidHigh = Gids.high(localA.gid);
        long gidLow = Gids.low(localA.gid);
        assertEquals(A, b.senderOf(route.token(), 0x11, gidHigh, gidLow, now));
        assertNull(b.senderOf(route.token(), 0x12, gidHigh, gidLow, now), "another queue pair");
        assertNull(b.senderOf(route.token(), 0x11, gidHigh, Gids.low(gidOf("10.0.0.9")), now), "another GID");
        assertNull(b.senderOf(route.token() + 1, 0x11, gidHigh, gidLow, now), "an unknown token");
        assertEquals(3, b.injectedDropped());
        assertEquals(0, b.rejected());
    }

    @Test
    void aLostRequestIsSentAgainWithinItsTimeoutSoOneLossCostsNoBackoff() {
        long third = PeerResolver.Config.DEFAULT.requestTimeout() / 3;
        assertNull(a.routeTo(B, now));
        byte[] first = takeOne(); // lost
        now += third / 2;
        assertNull(a.routeTo(B, now));
        assertTrue(wire.isEmpty(), "not again before a third of the timeout");
        now += third;
        assertNull(a.routeTo(B, now));
        byte[] again = takeOne();
        assertEquals(java.util.Arrays.toString(java.util.Arrays.copyOfRange(first, 0, 17)),
                java.util.Arrays.toString(java.util.Arrays.copyOfRange(again, 0, 17)), "the same request, the same nonce");
        wire.add(new Object[] {A, B, again});
        deliverAll();
        assertNotNull(a.routeTo(B, now).route());
        assertEquals(1, a.resent());
        assertEquals(2, a.requestsSent());
        assertEquals(0, a.unanswered());
    }

    @Test
    void aPeerThatRestartsOnItsPortIsAskedAgainWhenItsRequestComes() {
        a.routeTo(B, now);
        deliverAll();
        PeerRoute route = a.routeTo(B, now);
        assertNotNull(route);
        assertEquals(0x22, route.route().qpNumber());
        // B restarts on the same address with a new queue pair, and sends to A: its request names the new one.
        hosts.remove(B);
        FakeLocal restarted = new FakeLocal(gidOf("10.0.0.2"), 0x33, 0x9999, 1015);
        PeerResolver b2 = host(B, restarted, PeerResolver.Config.DEFAULT);
        now += 100 * MS;
        assertNull(b2.routeTo(A, now));
        deliverAll();
        assertEquals(1, a.peersMoved());
        PeerRoute again = a.routeTo(B, now);
        assertNotNull(again);
        assertEquals(0x33, again.route().qpNumber(), "A asked B again at once and has its new queue pair");
        assertEquals(0x9999, again.route().qkey());
        // A request that names the endpoint A already routes to changes nothing.
        now += 10 * S;
        b2.routeTo(A, now + PeerResolver.Config.DEFAULT.refreshAfter());
        deliverAll();
        assertEquals(1, a.peersMoved());
    }

    @Test
    void aReplyIsNoLongerThanItsRequestSoAForgedSourceGainsNoAmplification() {
        a.routeTo(B, now);
        byte[] request = takeOne();
        assertTrue(b.onUdpDatagram(A, Unpooled.wrappedBuffer(request), now));
        byte[] reply = takeOne();
        assertEquals(request.length, reply.length);
        assertTrue(tokenOf(reply) != 0);
    }

    @Test
    void atMostOneRequestIsOutPerPeer() {
        assertNull(a.routeTo(B, now));
        assertNull(a.routeTo(B, now + 10 * MS));
        assertEquals(1, wire.size());
        assertEquals(1, a.requestsSent());
        // Sent again (the same request) a third of the timeout later, never a second one beside it.
        assertNull(a.routeTo(B, now + 900 * MS));
        assertEquals(2, wire.size());
        assertEquals(nonceOf((byte[]) wire.poll()[2]), nonceOf((byte[]) wire.poll()[2]));
        assertEquals(1, a.resent());
    }

    @Test
    void anUnansweredPeerIsAskedAgainAfterABackoffThatDoublesUpToFiveMinutes() {
        long[] expected = {5, 10, 20, 40, 80, 160, 300, 300};
        assertNull(a.routeTo(B, now));
        wire.clear(); // B never answers
        long requests = 1;
        for (long backoff : expected) {
            now += S; // the request times out
            assertNull(a.routeTo(B, now));
            assertEquals(0, wire.size(), "no request while backing off");
            now += backoff * S - 1;
            assertNull(a.routeTo(B, now));
            assertEquals(0, wire.size(), "still backing off, " + backoff + " s");
            now += 1;
            assertNull(a.routeTo(B, now));
            assertEquals(1, wire.size(), "asked again after " + backoff + " s");
            wire.clear();
            assertEquals(++requests, a.requestsSent());
        }
        assertEquals(expected.length, a.unanswered());
        // An answer at last resets the backoff: a refresh that goes unanswered waits 5 s again.
        now += S;
        assertNull(a.routeTo(B, now));
        now += 300 * S;
        assertNull(a.routeTo(B, now));
        deliverAll();
        assertNotNull(a.routeTo(B, now));
        now += 30 * S;
        assertNotNull(a.routeTo(B, now));
        wire.clear();
        now += S;
        assertNull(a.routeTo(B, now));
        now += 5 * S;
        assertNull(a.routeTo(B, now));
        assertEquals(1, wire.size(), "asked again after 5 s");
    }

    @Test
    void aResolvedRouteIsRefreshedBeforeItExpiresAndKeptMeanwhile() {
        PeerRoute first = resolveBFromA();
        UdRoute route = first.route();
        long token = first.token();
        now += 30 * S - 1;
        assertSame(first, a.routeTo(B, now));
        assertEquals(0, wire.size(), "not yet due");
        now += 1;
        assertSame(route, a.routeTo(B, now).route(), "the old route while the refresh is out");
        assertEquals(1, wire.size(), "a refresh request");
        now += 500 * MS;
        deliverAll();
        PeerRoute refreshed = a.routeTo(B, now);
        assertSame(first, refreshed, "one object per peer");
        assertSame(route, refreshed.route(), "the same endpoint: the same route");
        assertEquals(token, refreshed.token(), "the responder keeps the token of a requester that asks again");
        assertEquals(1, localA.routesMade);
        assertEquals(2, a.resolved());
        // Refreshed: good for another 30 s before the next request.
        now += 29 * S;
        assertNotNull(a.routeTo(B, now));
        assertEquals(0, wire.size());
    }

    @Test
    void aRefreshThatBringsANewEndpointReplacesTheRoute() {
        UdRoute old = resolveBFromA().route();
        localB.qpNumber = 0x33; // B's endpoint was replaced (the channel reopened its queue pair)
        now += 30 * S;
        a.routeTo(B, now);
        deliverAll();
        UdRoute route = a.routeTo(B, now).route();
        assertNotEquals(old, route);
        assertEquals(0x33, route.qpNumber());
        assertEquals(2, localA.routesMade);
    }

    @Test
    void aPeerWhoseRefreshGoesUnansweredFallsBackToUdp() {
        resolveBFromA();
        now += 30 * S;
        assertNotNull(a.routeTo(B, now));
        wire.clear(); // B has gone
        now += 999 * MS;
        assertNotNull(a.routeTo(B, now), "the old route until the refresh times out");
        now += MS;
        assertNull(a.routeTo(B, now), "dropped back to UDP");
        assertEquals(1, a.unanswered());
        assertEquals(1, wire.size(), "the refresh was sent again once before it timed out");
        wire.clear();
        now += 5 * S;
        assertNull(a.routeTo(B, now));
        assertEquals(1, wire.size(), "asked again after the backoff");
    }

    @Test
    void aRouteNotUsedForItsLifetimeIsResolvedAfresh() {
        resolveBFromA();
        now += 60 * S;
        assertNull(a.routeTo(B, now), "expired: UDP until the answer");
        assertEquals(1, wire.size());
        deliverAll();
        assertNotNull(a.routeTo(B, now));
    }

    @Test
    void aRouteThatCannotBeMadeLeavesThePeerOnUdp() {
        localA.refuse = true;
        assertNull(a.routeTo(B, now));
        deliverAll();
        assertNull(a.routeTo(B, now));
        assertEquals(0, wire.size(), "backing off");
        localA.refuse = false;
        now += 5 * S;
        a.routeTo(B, now);
        deliverAll();
        assertNotNull(a.routeTo(B, now));
    }

    @Test
    void repliesFromAnUnaskedSourceOrWithAnotherNonceAreIgnoredAndCounted() {
        assertNull(a.routeTo(B, now));
        byte[] request = takeOne();
        long nonce = nonceOf(request);
        assertTrue(a.onUdpDatagram(C, reply(nonce, 99, localB.gid, 0x22, 1, 1000), now), "consumed");
        assertTrue(a.onUdpDatagram(B, reply(nonce + 1, 99, localB.gid, 0x22, 1, 1000), now), "consumed");
        assertEquals(2, a.rejected());
        assertNull(a.routeTo(B, now), "still unresolved");
        assertEquals(0, wire.size(), "and the request still out");
        // The genuine reply still resolves.
        wire.add(new Object[] {A, B, request});
        deliverAll();
        assertNotNull(a.routeTo(B, now));
        // A second copy of it, the request no longer out, is ignored.
        assertTrue(a.onUdpDatagram(B, reply(nonce, 99, localB.gid, 0x22, 1, 1000), now));
        assertEquals(3, a.rejected());
        assertEquals(1, a.resolved());
    }

    @Test
    void aReplyAfterTheTimeoutIsIgnored() {
        a.routeTo(B, now);
        long nonce = nonceOf(takeOne());
        now += S;
        assertTrue(a.onUdpDatagram(B, reply(nonce, 99, localB.gid, 0x22, 1, 1000), now));
        assertEquals(1, a.rejected());
        assertNull(a.routeTo(B, now));
    }

    @Test
    void repliesWithImpossibleFieldsAreIgnoredAndCounted() {
        a.routeTo(B, now);
        long nonce = nonceOf(takeOne());
        Gid multicast = Gid.of(new byte[] {(byte) 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
        ByteBuf[] hostile = {
                reply(nonce, 99, localB.gid, 0, 1, 1000),
                reply(nonce, 99, localB.gid, 1, 1, 1000),
                reply(nonce, 99, localB.gid, 0x100_0000, 1, 1000),
                reply(nonce, 99, localB.gid, 0x22, 0x8000_0001, 1000),
                reply(nonce, 99, localB.gid, 0x22, 1, 0),
                reply(nonce, 99, localB.gid, 0x22, 1, 65537),
                reply(nonce, 99, Gid.of(new byte[16]), 0x22, 1, 1000),
                reply(nonce, 99, multicast, 0x22, 1, 1000),
                reply(nonce, 0, localB.gid, 0x22, 1, 1000),
        };
        for (ByteBuf message : hostile) {
            assertTrue(a.onUdpDatagram(B, message, now), "consumed");
        }
        assertEquals(hostile.length, a.rejected());
        assertEquals(0, a.resolved());
        assertEquals(0, localA.routesMade);
        assertTrue(a.onUdpDatagram(B, reply(nonce, 99, localB.gid, 0x22, 1, 1000), now), "a good one still counts");
        assertEquals(1, a.resolved());
    }

    @Test
    void aMessageOfTheWrongLengthIsNotOursAndReachesTheApplication() {
        a.routeTo(B, now);
        long nonce = nonceOf(takeOne());
        ByteBuf truncated = reply(nonce, 99, localB.gid, 0x22, 1, 1000);
        truncated.writerIndex(PeerResolver.LENGTH - 1);
        ByteBuf padded = reply(nonce, 99, localB.gid, 0x22, 1, 1000).writeByte(0);
        assertFalse(a.onUdpDatagram(B, truncated, now));
        assertFalse(a.onUdpDatagram(B, padded, now));
        assertEquals(2, a.rejected());
        assertNull(a.routeTo(B, now), "not resolved by either");
        assertFalse(b.onUdpDatagram(A, Unpooled.copiedBuffer("VSOCKUD1", java.nio.charset.StandardCharsets.US_ASCII), now),
                "the magic alone");
        assertEquals(0, wire.size(), "nothing answered");
    }

    @Test
    void datagramsWithoutTheMagicOrOfAnUnknownTypeAreTheApplications() {
        ByteBuf plain = Unpooled.wrappedBuffer("hello, application".getBytes());
        assertFalse(b.onUdpDatagram(A, plain, now));
        assertEquals(0, plain.readerIndex(), "indexes untouched");
        ByteBuf unknown = request(1, localA.gid, 0x11, 1, 100).setByte(8, 4);
        assertFalse(b.onUdpDatagram(A, unknown, now));
        assertFalse(b.onUdpDatagram(A, Unpooled.EMPTY_BUFFER, now));
        assertEquals(0, b.rejected());
        assertEquals(0, wire.size());
    }

    @Test
    void aReplyIsNeverAnsweredAndARequestWithImpossibleFieldsNeither() {
        assertTrue(b.onUdpDatagram(A, reply(5, 99, localA.gid, 0x11, 1, 1000), now));
        assertTrue(b.onUdpDatagram(A, request(5, localA.gid, 0, 1, 1000), now));
        assertTrue(b.onUdpDatagram(A, request(5, Gid.of(new byte[16]), 0x11, 1, 1000), now));
        assertEquals(0, wire.size());
        assertEquals(3, b.rejected());
        assertEquals(0, b.inboundCount());
    }

    @Test
    void repeatedRequestsKeepTheTokenAndAreRateLimited() {
        assertTrue(b.onUdpDatagram(A, request(1, localA.gid, 0x11, 1, 1000), now));
        long token = tokenOf(takeOne());
        assertTrue(b.onUdpDatagram(A, request(2, localA.gid, 0x11, 1, 1000), now + 99 * MS));
        assertEquals(0, wire.size(), "within 100 ms of the last reply: not answered");
        assertEquals(1, b.repliesLimited());
        assertTrue(b.onUdpDatagram(A, request(3, localA.gid, 0x11, 1, 1000), now + 100 * MS));
        byte[] second = takeOne();
        assertEquals(token, tokenOf(second), "the same token");
        assertEquals(3, nonceOf(second), "the nonce echoed");
        // Another requester gets another token.
        assertTrue(b.onUdpDatagram(C, request(4, gidOf("10.0.0.3"), 0x44, 1, 1000), now));
        assertNotEquals(token, tokenOf(takeOne()));
        assertEquals(2, b.inboundCount());
    }

    @Test
    void aTokenExpiresUnlessItsRequesterAsksAgain() {
        assertTrue(b.onUdpDatagram(A, request(1, localA.gid, 0x11, 1, 1000), now));
        long token = tokenOf(takeOne());
        long high = Gids.high(localA.gid);
        long low = Gids.low(localA.gid);
        assertEquals(A, b.senderOf(token, 0x11, high, low, now + 149 * S));
        // Asked again at 100 s: lives until 250 s.
        assertTrue(b.onUdpDatagram(A, request(2, localA.gid, 0x11, 1, 1000), now + 100 * S));
        assertEquals(token, tokenOf(takeOne()));
        assertEquals(A, b.senderOf(token, 0x11, high, low, now + 249 * S));
        assertNull(b.senderOf(token, 0x11, high, low, now + 250 * S));
        assertEquals(1, b.injectedDropped());
        assertEquals(0, b.inboundCount(), "forgotten");
        // A request after expiry gets a new token.
        assertTrue(b.onUdpDatagram(A, request(3, localA.gid, 0x11, 1, 1000), now + 300 * S));
        assertNotEquals(token, tokenOf(takeOne()));
    }

    @Test
    void aRequestAnnouncingAnotherEndpointGetsATokenOfItsOwnAndLeavesTheEarlierOneAlone() {
        assertTrue(b.onUdpDatagram(A, request(1, localA.gid, 0x11, 1, 1000), now));
        long token = tokenOf(takeOne());
        // The requester reopened its queue pair, or someone forged its address: either way the
        // earlier token keeps naming A for datagrams from the earlier endpoint.
        assertTrue(b.onUdpDatagram(A, request(2, localA.gid, 0x12, 1, 1000), now + S));
        long second = tokenOf(takeOne());
        assertNotEquals(token, second);
        long high = Gids.high(localA.gid);
        long low = Gids.low(localA.gid);
        assertEquals(A, b.senderOf(token, 0x11, high, low, now + S));
        assertEquals(A, b.senderOf(second, 0x12, high, low, now + S));
        assertNull(b.senderOf(second, 0x11, high, low, now + S), "each token for its own endpoint");
        assertEquals(2, b.inboundCount());
        // A refresh from the real endpoint keeps it working (with a new token: the latest announcement differed).
        assertTrue(b.onUdpDatagram(A, request(3, localA.gid, 0x11, 1, 1000), now + 100 * S));
        long third = tokenOf(takeOne());
        assertEquals(A, b.senderOf(third, 0x11, high, low, now + 200 * S));
        assertEquals(A, b.senderOf(token, 0x11, high, low, now + 149 * S), "the first until it expires");
        assertNull(b.senderOf(token, 0x11, high, low, now + 150 * S));
        assertEquals(1, b.expire(now + 151 * S), "the second expired too");
        assertEquals(1, b.inboundCount());
    }

    @Test
    void theRequesterTableIsBoundedAndExpiredEntriesMakeRoom() {
        PeerResolver.Config d = PeerResolver.Config.DEFAULT;
        PeerResolver small = host(C, new FakeLocal(gidOf("10.0.0.3"), 0x44, 1, 1000), new PeerResolver.Config(
                d.requestTimeout(), d.refreshAfter(), d.routeLifetime(), d.inboundLifetime(), d.firstBackoff(),
                d.maxBackoff(), d.replyInterval(), 2, 2));
        assertTrue(small.onUdpDatagram(A, request(1, localA.gid, 0x11, 1, 1000), now));
        assertTrue(small.onUdpDatagram(B, request(1, localB.gid, 0x22, 1, 1000), now));
        InetSocketAddress third = address("10.0.0.4", 1);
        assertTrue(small.onUdpDatagram(third, request(1, gidOf("10.0.0.4"), 0x55, 1, 1000), now));
        assertEquals(2, wire.size(), "the third requester is not answered while the table is full");
        assertEquals(1, small.repliesLimited());
        wire.clear();
        now += 150 * S;
        assertTrue(small.onUdpDatagram(third, request(2, gidOf("10.0.0.4"), 0x55, 1, 1000), now));
        assertEquals(1, wire.size(), "answered once the others expired");
        assertEquals(1, small.inboundCount());
        // The peer table too: two peers, then a third only once one has been idle long enough.
        wire.clear();
        assertNull(small.routeTo(A, now));
        assertNull(small.routeTo(B, now));
        assertNull(small.routeTo(third, now));
        assertEquals(2, small.peerCount());
        now += 300 * S;
        assertNull(small.routeTo(third, now));
        assertEquals(1, small.peerCount());
    }

    @Test
    void expireForgetsIdlePeersAndExpiredTokens() {
        resolveBFromA();
        assertEquals(1, a.peerCount());
        assertEquals(1, b.inboundCount());
        assertEquals(0, a.expire(now + 299 * S) + b.expire(now + 149 * S));
        assertEquals(1, b.expire(now + 150 * S));
        assertEquals(1, a.expire(now + 300 * S));
        assertEquals(0, a.peerCount());
        assertEquals(0, b.inboundCount());
    }

    @Test
    void withoutAUdEndpointResolutionMessagesAreConsumedAndNothingIsResolved() {
        PeerResolver none = new PeerResolver(null, (to, m) -> wire.add(new Object[] {C, to, m}), new SplittableRandom(1),
                PeerResolver.Config.DEFAULT);
        assertTrue(none.onUdpDatagram(A, request(1, localA.gid, 0x11, 1, 1000), now));
        assertNull(none.routeTo(A, now));
        assertEquals(0, wire.size());
        assertNull(none.senderOf(1, 0x11, 0, 0, now));
    }

    @Test
    void configsThatWouldLetATokenDieBeforeItsRouteAreRefused() {
        long s = S;
        assertThrows(IllegalArgumentException.class,
                () -> new PeerResolver.Config(s, 30 * s, 60 * s, 60 * s, 5 * s, 300 * s, 0, 1, 1));
        assertThrows(IllegalArgumentException.class,
                () -> new PeerResolver.Config(s, 60 * s, 60 * s, 150 * s, 5 * s, 300 * s, 0, 1, 1));
    }

    /** What a shm side was told to expect: requester, token, nonce. */
    private final ArrayDeque<Object[]> expected = new ArrayDeque<>();
    /** The peers a shm side heard offer shm. */
    private final ArrayDeque<PeerRoute> offered = new ArrayDeque<>();

    /** What a shm side says its receive buffer asks for (see {@link PeerResolver.ShmSide#receiveRingShift}). */
    private int ringShift;

    private PeerResolver.ShmSide shmSide() {
        return new PeerResolver.ShmSide() {
            @Override
            public boolean offersTo(InetSocketAddress requester) {
                return !requester.equals(C); // C stands for a requester on another host
            }

            @Override
            public int receiveRingShift() {
                return ringShift;
            }

            @Override
            public void expect(InetSocketAddress requester, long token, long nonce, int shift) {
                expected.add(new Object[] {requester, token, nonce, shift});
            }

            @Override
            public void offered(PeerRoute peer) {
                offered.add(peer);
            }
        };
    }

    /** A message with no UD endpoint (28 zero bytes) and {@code flags}. */
    private static ByteBuf shmRequest(long nonce, int flags) {
        return Unpooled.buffer().writeLong(PeerResolver.MAGIC).writeByte(PeerResolver.REQUEST).writeLong(nonce)
                .writeZero(28).writeByte(flags).writeZero(8);
    }

    private static ByteBuf shmReply(long nonce, long token, int flags) {
        return Unpooled.buffer().writeLong(PeerResolver.MAGIC).writeByte(PeerResolver.REPLY).writeLong(nonce)
                .writeLong(token).writeZero(28).writeByte(flags);
    }

    @Test
    void twoSidesWithoutUdResolveShmWhenAsked() {
        PeerResolver shmA = host(A, null, null, PeerResolver.Config.DEFAULT);
        PeerResolver shmB = host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        assertNull(shmA.routeTo(B, now), "without UD and without asking for shm nothing is asked");
        assertEquals(0, wire.size());
        assertNull(shmA.routeTo(B, now, true), "asked: UDP until the reply");
        byte[] request = (byte[]) wire.peek()[2];
        assertEquals(PeerResolver.LENGTH, request.length);
        assertEquals(PeerResolver.SHM, request[45], "the request asks for shm");
        assertEquals(2, deliverAll());
        PeerRoute peer = shmA.routeTo(B, now, true);
        assertNotNull(peer);
        assertTrue(peer.shm());
        assertNull(peer.route(), "no UD route: neither side has an endpoint");
        assertEquals(nonceOf(request), peer.shmNonce());
        Object[] expect = expected.poll();
        assertNotNull(expect, "the responder waits for the requester's shared memory");
        assertEquals(A, expect[0]);
        assertEquals(peer.token(), (long) (Long) expect[1]);
        assertEquals(peer.shmNonce(), (long) (Long) expect[2]);
        assertEquals(0, deliveredToApplication);
    }

    @Test
    void aRequesterWithAShmSideHearsOfTheOfferAtOnce() {
        PeerResolver shmA = host(A, null, shmSide(), PeerResolver.Config.DEFAULT);
        host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        shmA.routeTo(B, now, true);
        assertEquals(2, deliverAll());
        PeerRoute peer = offered.poll();
        assertNotNull(peer, "told when the reply came, not at the next datagram");
        assertEquals(B, peer.address());
        assertTrue(peer.shm());
        assertTrue(offered.isEmpty());
    }

    @Test
    void aRequesterOnAnotherHostIsNotOfferedShm() {
        PeerResolver shmB = host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        assertTrue(shmB.onUdpDatagram(C, shmRequest(7, PeerResolver.SHM), now), "consumed");
        assertEquals(0, wire.size(), "nothing it can serve: no answer");
        assertTrue(expected.isEmpty());
    }

    @Test
    void aResponderWithoutAShmSideDoesNotAnswerAShmOnlyRequest() {
        PeerResolver plain = host(B, null, null, PeerResolver.Config.DEFAULT);
        assertTrue(plain.onUdpDatagram(A, shmRequest(7, PeerResolver.SHM), now), "consumed");
        assertEquals(0, wire.size(), "nothing to offer: no answer");
        assertEquals(0, plain.rejected());
    }

    @Test
    void aRequestThatAsksForNothingOrWithUnknownFlagsIsRejected() {
        PeerResolver shmB = host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        assertTrue(shmB.onUdpDatagram(A, shmRequest(7, 0), now));
        assertTrue(shmB.onUdpDatagram(A, shmRequest(8, PeerResolver.SHM | 2), now));
        assertEquals(2, shmB.rejected());
        assertEquals(0, wire.size());
        assertTrue(expected.isEmpty());
    }

    @Test
    void aShmOfferNobodyAskedForOrWithUnknownFlagsIsIgnored() {
        PeerResolver shmA = host(A, null, null, PeerResolver.Config.DEFAULT);
        assertNull(shmA.routeTo(B, now, true));
        long nonce = nonceOf(takeOne());
        assertTrue(shmA.onUdpDatagram(B, shmReply(nonce, 5, PeerResolver.SHM | 0x10), now));
        assertTrue(shmA.onUdpDatagram(B, shmReply(nonce, 5, 0), now), "offers nothing");
        assertTrue(shmA.onUdpDatagram(B, shmReply(nonce, 0, PeerResolver.SHM), now), "token 0");
        assertEquals(3, shmA.rejected());
        assertNull(shmA.routeTo(B, now, true));
        assertTrue(shmA.onUdpDatagram(B, shmReply(nonce, 5, PeerResolver.SHM), now), "the genuine one");
        assertTrue(shmA.routeTo(B, now, true).shm());
        // A requester that did not ask for shm takes no shm offer.
        assertNull(a.routeTo(C, now));
        long other = nonceOf(takeOne());
        assertTrue(a.onUdpDatagram(C, shmReply(other, 5, PeerResolver.SHM), now));
        assertEquals(1, a.rejected());
    }

    @Test
    void theShmOfferCarriesTheSizeOfTheRingTheResponderReadsFrom() {
        PeerResolver shmA = host(A, null, shmSide(), PeerResolver.Config.DEFAULT);
        host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        ringShift = 4; // a receive buffer of 4 MiB
        shmA.routeTo(B, now, true);
        assertEquals(2, deliverAll());
        PeerRoute peer = offered.poll();
        assertNotNull(peer);
        assertEquals(4 << 20, peer.shmRing(), "the ring the requester makes for the responder");
        assertEquals(4, (int) (Integer) expected.poll()[3], "the responder expects that ring");
        // Beyond 32 MiB the offer asks for 32 MiB; below the unit, for the unit.
        ringShift = 12;
        assertEquals(PeerResolver.SHM | PeerResolver.MAX_SHM_RING_SHIFT << 1, replyFlagsTo(B, 7001));
        ringShift = -3;
        assertEquals(PeerResolver.SHM, replyFlagsTo(B, 7002));
    }

    @Test
    void ringBitsWithoutAShmOfferAreRejected() {
        assertNull(a.routeTo(B, now));
        long nonce = nonceOf(takeOne());
        ByteBuf ringOnly = reply(nonce, 5, localB.gid(), localB.qpNumber(), localB.qkey(), localB.maxPayload());
        ringOnly.setByte(53, 2);
        assertTrue(a.onUdpDatagram(B, ringOnly, now));
        assertEquals(1, a.rejected(), "a ring asked for without shm offered");
        assertNull(a.routeTo(B, now));
        assertTrue(a.onUdpDatagram(B, reply(nonce, 5, localB.gid(), localB.qpNumber(), localB.qkey(),
                localB.maxPayload()), now), "the genuine one");
        assertNotNull(a.routeTo(B, now));
    }

    /** The flags of the reply {@code responder} sends to the shm request of a new requester at {@code port}. */
    private int replyFlagsTo(InetSocketAddress responder, int port) {
        PeerResolver requester = host(address("10.0.0.9", port), null, null, PeerResolver.Config.DEFAULT);
        wire.clear();
        requester.routeTo(responder, now, true);
        Object[] request = wire.poll();
        assertNotNull(request, "a request went out");
        deliver(request);
        Object[] reply = wire.poll();
        assertNotNull(reply, "a reply came back");
        byte[] bytes = (byte[]) reply[2];
        return bytes[53] & 0xff;
    }

    @Test
    void sidesWithUdEndpointsOnOneHostGetBothAndTheShmOfferFirst() {
        PeerResolver udA = host(A, localA, null, PeerResolver.Config.DEFAULT);
        PeerResolver udB = host(B, localB, shmSide(), PeerResolver.Config.DEFAULT);
        assertNull(udA.routeTo(B, now, true));
        assertEquals(2, deliverAll());
        PeerRoute peer = udA.routeTo(B, now, true);
        assertTrue(peer.shm());
        assertNotNull(peer.route(), "the UD route too");
        assertEquals(1, expected.size());
        // Asked without shm, the same responder offers UD alone.
        PeerResolver udC = host(C, new FakeLocal(gidOf("10.0.0.3"), 0x33, 1, 1000), null, PeerResolver.Config.DEFAULT);
        assertNull(udC.routeTo(B, now, false));
        assertEquals(2, deliverAll());
        PeerRoute fromC = udC.routeTo(B, now, false);
        assertFalse(fromC.shm());
        assertNotNull(fromC.route());
        assertEquals(1, expected.size(), "no shm expected for C");
    }

    @Test
    void aFailedShmSetUpBacksOffBeforeThePeerIsAskedAgain() {
        PeerResolver shmA = host(A, null, null, PeerResolver.Config.DEFAULT);
        host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        shmA.routeTo(B, now, true);
        deliverAll();
        PeerRoute peer = shmA.routeTo(B, now, true);
        shmA.shmGone(B, now, true);
        assertFalse(peer.shm());
        assertNull(shmA.routeTo(B, now + S, true), "UDP during the backoff");
        assertEquals(0, wire.size(), "and not asked");
        assertNull(shmA.routeTo(B, now + 5 * S, true));
        assertEquals(1, wire.size(), "asked again after it");
    }

    @Test
    void aPeerWhoseLinkClosedIsAskedAgainAtOnce() {
        PeerResolver shmA = host(A, null, null, PeerResolver.Config.DEFAULT);
        host(B, null, shmSide(), PeerResolver.Config.DEFAULT);
        shmA.routeTo(B, now, true);
        deliverAll();
        long firstToken = shmA.routeTo(B, now, true).token();
        now += 200 * MS; // past the responder's reply interval
        shmA.shmGone(B, now, false);
        assertNull(shmA.routeTo(B, now, true), "UDP until the new answer");
        assertEquals(2, deliverAll(), "asked again at once, and answered");
        PeerRoute again = shmA.routeTo(B, now, true);
        assertTrue(again.shm());
        assertEquals(firstToken, again.token(), "the same requester keeps its token");
        assertEquals(2, expected.size(), "and the responder expects the new set-up");
    }

    @Test
    void aClosingEndpointTellsItsRequestersAndTheirRoutesGo() {
        PeerRoute route = resolveBFromA();
        assertNotNull(route.route());
        b.goodbye();
        byte[] gone = takeOne();
        assertEquals(PeerResolver.LENGTH, gone.length);
        assertEquals(PeerResolver.GONE, gone[8]);
        // A forged one (another token, or from another address) changes nothing.
        ByteBuf forged = Unpooled.wrappedBuffer(gone.clone());
        forged.setLong(17, route.token() + 1);
        assertTrue(a.onUdpDatagram(B, forged, now));
        assertTrue(a.onUdpDatagram(C, Unpooled.wrappedBuffer(gone), now));
        assertNotNull(a.routeTo(B, now), "still routed");
        assertEquals(2, a.rejected());
        assertTrue(a.onUdpDatagram(B, Unpooled.wrappedBuffer(gone), now));
        assertEquals(1, a.gone());
        assertNull(a.routeTo(B, now), "over UDP now: a closed port answers there");
        assertEquals(0, wire.size(), "and not asked again before the backoff");
        assertEquals(0, deliveredToApplication, "GONE never reaches the application");
    }
}
