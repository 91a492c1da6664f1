package io.vsocket.testsuite.softroce;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.epoll_event;
import io.vsocket.verbs.CompletionQueue;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WC_RECV;
import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_SEND;
import static io.vsocket.testsuite.softroce.SoftRoce.awaitOne;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The event loop's blocking point: a completion wakes a thread waiting on the completion channel. */
@Tag("softroce")
class CompletionChannelTest {

    @Test
    void aBlockedWaitIsWokenByACompletion() throws Exception {
        try (RcPair pair = new RcPair(true, true); Arena arena = Arena.ofConfined()) {
            pair.srq.postReceive(WorkRequests.receive(arena, 1, pair.mrB, 0, 64));
            pair.cqB.requestNotification(false);
            CompletableFuture<CompletionQueue> woken = CompletableFuture.supplyAsync(() -> {
                try {
                    return pair.channel.awaitEvent();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(300);
            assertFalse(woken.isDone(), "the wait returned before anything completed");

            pair.a.postSend(WorkRequests.send(arena, 2, IBV_WR_SEND, 0, pair.mrA, 0, 64));
            assertSame(pair.cqB, woken.get(SoftRoce.POLL_TIMEOUT_NANOS, TimeUnit.NANOSECONDS));
            assertEquals(1, pair.cqB.unacknowledgedEvents());
            awaitOne(pair.cqB, pair.batch);
            assertEquals(IBV_WC_RECV, pair.batch.opcode(0));
            pair.cqB.acknowledgeEvents();
            assertEquals(0, pair.cqB.unacknowledgedEvents());
            awaitOne(pair.cqA, pair.batch);
        }
    }

    @Test
    void theChannelDescriptorWakesEpoll() throws Exception {
        try (RcPair pair = new RcPair(true, true); Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            pair.channel.setNonBlocking();
            assertNull(pair.channel.awaitEvent(), "non-blocking and nothing there");
            int ep = LibC.epoll_create1(errno, LibC.EPOLL_CLOEXEC);
            assertTrue(ep >= 0);
            try {
                MemorySegment event = epoll_event.allocate(arena);
                epoll_event.events(event, LibC.EPOLLIN);
                epoll_event.data(event, 42);
                assertEquals(0, LibC.epoll_ctl(errno, ep, LibC.EPOLL_CTL_ADD, pair.channel.fd(), event));
                MemorySegment ready = arena.allocate(epoll_event.LAYOUT, 2);

                pair.srq.postReceive(WorkRequests.receive(arena, 1, pair.mrB, 0, 64));
                pair.cqB.requestNotification(false);
                assertEquals(0, LibC.epoll_wait(errno, ep, ready, 2, 0), "armed, nothing completed");

                pair.a.postSend(WorkRequests.send(arena, 2, IBV_WR_SEND, 0, pair.mrA, 0, 64));
                assertEquals(1, LibC.epoll_wait(errno, ep, ready, 2, (int) (SoftRoce.POLL_TIMEOUT_NANOS / 1_000_000)));
                assertEquals(42, epoll_event.data(ready));
                assertSame(pair.cqB, pair.channel.awaitEvent());
                assertNull(pair.channel.awaitEvent(), "one event per arming");
                awaitOne(pair.cqB, pair.batch);
                pair.batch.checkSuccess(0, "RECV");
                awaitOne(pair.cqA, pair.batch);
            } finally {
                LibC.close(errno, ep);
            }
        }
    }
}
