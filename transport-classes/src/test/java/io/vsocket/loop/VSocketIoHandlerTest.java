package io.vsocket.loop;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.unix.EventFd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The event loop: wakeups, timers, descriptor readiness, pollers and an orderly shutdown. */
class VSocketIoHandlerTest {
    private VSocketEventLoopGroup group;

    @AfterEach
    void shutDown() throws Exception {
        if (group != null) {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** An eventfd as a registered handle that records what the loop reports. */
    static final class EventFdHandle implements VSocketIoHandle {
        final EventFd eventFd;
        final BlockingQueue<Integer> events = new LinkedBlockingQueue<>();
        final CountDownLatch closed = new CountDownLatch(1);
        final CountDownLatch unregistered = new CountDownLatch(1);

        /** Whether {@link #handle} reads the counter back (a level-triggered registration must). */
        final boolean drains;

        EventFdHandle() throws Exception {
            this(true);
        }

        EventFdHandle(boolean drains) throws Exception {
            this.drains = drains;
            eventFd = EventFd.create();
        }

        @Override
        public int fd() {
            return eventFd.fd();
        }

        @Override
        public void handle(IoRegistration registration, IoEvent ioEvent) {
            VSocketIoEvent e = (VSocketIoEvent) ioEvent;
            // Drain first: a test that signals again as soon as it sees the event must not have its
            // new signal drained with the old one.
            if (drains) {
                eventFd.drain();
            }
            events.add(e.flags());
        }

        @Override
        public void unregistered() {
            unregistered.countDown();
        }

        @Override
        public void close() {
            eventFd.close();
            closed.countDown();
        }
    }

    @ParameterizedTest(name = "spin {0} ns")
    @ValueSource(longs = {0, 50_000})
    void aTaskFromAnotherThreadWakesABlockedLoop(long spin) throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ofNanos(spin));
        IoEventLoop loop = (IoEventLoop) group.next();
        loop.submit(() -> { }).sync(); // started
        Thread.sleep(100);             // and asleep in epoll_wait by now
        CountDownLatch ran = new CountDownLatch(1);
        loop.execute(ran::countDown);
        assertTrue(ran.await(5, TimeUnit.SECONDS), "the task never ran: the wakeup was lost");
    }

    @Test
    void aLoopThatNeverReadsItsWakeupIsWokenByEveryTaskFromAnotherThread() throws Exception {
        // The wakeup eventfd is edge-triggered and never read back: each task's signal must still be
        // an event of its own, the thousandth as the first.
        group = new VSocketEventLoopGroup(1, Duration.ZERO);
        IoEventLoop loop = (IoEventLoop) group.next();
        loop.submit(() -> { }).sync();
        for (int i = 0; i < 1000; i++) {
            CountDownLatch ran = new CountDownLatch(1);
            if (i % 100 == 0) {
                Thread.sleep(20); // asleep in epoll_wait, not between two turns
            }
            loop.execute(ran::countDown);
            assertTrue(ran.await(5, TimeUnit.SECONDS), "task " + i + " never ran: the wakeup was lost");
        }
    }

    /**
     * A loop that blocks without spinning (its spin dropped for tasks from other threads, as under
     * gRPC's executors) makes one {@code epoll_wait} per wake-up, as Netty's epoll loop does: the
     * blocking wait is its look at the descriptors, with no non-blocking look before it.
     */
    @Test
    void aLoopWokenByTasksFromAnotherThreadMakesOneEpollWaitPerWakeUp() throws Exception {
        group = new VSocketEventLoopGroup(1); // the default, adaptive policy
        IoEventLoop loop = (IoEventLoop) group.next();
        VSocketIoHandler handler = loop.register(new EventFdHandle()).sync().getNow().attachment();
        loop.submit(() -> handler.addPoller(idlePoller())).sync();
        Thread.sleep(10); // idle: the next task is seen as another thread's when the idle period ends
        loop.submit(() -> { }).sync();
        assertEquals(0, handler.spinNanos(), "a task from another thread stops the spin");
        int tasks = 500;
        long before = loop.submit(handler::epollWaits).get();
        for (int i = 0; i < tasks; i++) {
            LockSupport.parkNanos(300_000); // the loop is asleep in epoll_wait when the task comes
            loop.submit(() -> { }).get(5, TimeUnit.SECONDS);
        }
        long waits = loop.submit(handler::epollWaits).get() - before;
        // One blocking wait per task (with a look first, two); timers or a stray wake-up may add a few.
        assertTrue(waits >= tasks / 2 && waits <= tasks + tasks / 10, waits + " epoll_waits for " + tasks + " wake-ups");
    }

    /**
     * A poller that says it has work when armed but finds none when polled (a datagram link whose peer
     * closed, waiting for its socket's hang-up) keeps the loop from blocking; the loop must still look at
     * its descriptors on each such turn, or it would spin for ever without seeing the hang-up that ends it.
     */
    @Test
    void aPollerThatClaimsWorkItNeverHasStillLetsDescriptorsBeSeen() throws Exception {
        assertNotNull(signalWhileGoingRound(Duration.ZERO, true, "the loop goes round on the poller's claim"),
                "a ready descriptor went unseen while a poller kept the loop from blocking");
    }

    /**
     * On a one-loop group with {@code spin}, an eventfd registered for reading and a poller that counts
     * its polls (finding nothing) and answers every arming with {@code claims}: once the loop has gone
     * round a thousand polls, signals the eventfd from this thread (readiness only: no task, no wakeup)
     * and returns the flags reported within 5 s, or null.
     */
    private Integer signalWhileGoingRound(Duration spin, boolean claims, String goingRound) throws Exception {
        group = new VSocketEventLoopGroup(1, spin);
        IoEventLoop loop = (IoEventLoop) group.next();
        EventFdHandle handle = new EventFdHandle();
        IoRegistration registration = loop.register(handle).sync().getNow();
        VSocketIoHandler handler = registration.attachment();
        AtomicBoolean claiming = new AtomicBoolean(claims);
        AtomicInteger polls = new AtomicInteger();
        loop.submit(() -> {
            handler.addPoller(new VSocketLoopPoller() {
                @Override
                public int poll() {
                    polls.incrementAndGet();
                    return 0;
                }

                @Override
                public boolean armAndCheck() {
                    return claiming.get();
                }
            });
            registration.submit(VSocketIoOps.READ);
        }).sync();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (polls.get() < 1000 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(polls.get() >= 1000, goingRound);
        handle.eventFd.signal();
        Integer flags = handle.events.poll(5, TimeUnit.SECONDS);
        claiming.set(false); // the loop may block again
        handle.close();
        return flags;
    }

    @Test
    void anEdgeTriggeredEventFdIsReportedOncePerSignalThoughNobodyReadsIt() throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ZERO);
        IoEventLoop loop = (IoEventLoop) group.next();
        EventFdHandle handle = new EventFdHandle(false);
        IoRegistration registration = loop.register(handle).sync().getNow();
        loop.submit(() -> registration.submit(VSocketIoOps.of(VSocketIoOps.IN | VSocketIoOps.EDGE))).sync();
        for (int i = 0; i < 200; i++) {
            handle.eventFd.signal();
            assertNotNull(handle.events.poll(5, TimeUnit.SECONDS), "signal " + i + " was not reported");
        }
        assertNull(handle.events.poll(100, TimeUnit.MILLISECONDS), "reported with no new signal");
        assertEquals(200, handle.eventFd.drain(), "the loop read the counter");
        registration.cancel();
        assertTrue(handle.unregistered.await(5, TimeUnit.SECONDS));
        handle.close();
    }

    @Test
    void aScheduledTaskRunsWhenDue() throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ZERO);
        long start = System.nanoTime();
        long ranAfter = group.next().schedule(() -> System.nanoTime() - start, 50, TimeUnit.MILLISECONDS)
                .get(5, TimeUnit.SECONDS);
        assertTrue(ranAfter >= TimeUnit.MILLISECONDS.toNanos(50), "ran early: " + ranAfter + " ns");
    }

    @Test
    void aReadyDescriptorIsReportedUntilItsInterestIsWithdrawn() throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ZERO);
        IoEventLoop loop = (IoEventLoop) group.next();
        EventFdHandle handle = new EventFdHandle();
        IoRegistration registration = loop.register(handle).sync().getNow();
        assertTrue(registration.attachment() instanceof VSocketIoHandler);
        loop.submit(() -> registration.submit(VSocketIoOps.READ)).sync();

        handle.eventFd.signal();
        Integer flags = handle.events.poll(5, TimeUnit.SECONDS);
        assertNotNull(flags, "no readiness reported");
        assertTrue((flags & VSocketIoOps.IN) != 0, "flags 0x" + Integer.toHexString(flags));

        loop.submit(() -> registration.submit(VSocketIoOps.NONE)).sync();
        handle.eventFd.signal();
        assertNull(handle.events.poll(200, TimeUnit.MILLISECONDS), "reported after NONE was submitted");

        assertTrue(registration.cancel());
        assertFalse(registration.cancel(), "a second cancel reports false");
        assertTrue(handle.unregistered.await(5, TimeUnit.SECONDS));
        assertEquals(-1, registration.submit(VSocketIoOps.READ), "submit after cancel is refused");
        handle.close();
    }

    @Test
    void shutdownClosesEveryRegistration() throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ZERO);
        IoEventLoop loop = (IoEventLoop) group.next();
        EventFdHandle a = new EventFdHandle();
        EventFdHandle b = new EventFdHandle();
        IoRegistration ra = loop.register(a).sync().getNow();
        loop.register(b).sync();
        loop.submit(() -> ra.submit(VSocketIoOps.READ)).sync();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        group = null;
        assertTrue(a.closed.await(5, TimeUnit.SECONDS), "a was not closed");
        assertTrue(b.closed.await(5, TimeUnit.SECONDS), "b was not closed");
        assertTrue(a.unregistered.await(5, TimeUnit.SECONDS));
    }

    @Test
    void pollersAreSpunOnAndArmedBeforeTheLoopBlocks() throws Exception {
        group = new VSocketEventLoopGroup(1, Duration.ofMillis(1));
        IoEventLoop loop = (IoEventLoop) group.next();
        AtomicInteger pending = new AtomicInteger();
        AtomicInteger handled = new AtomicInteger();
        AtomicInteger arms = new AtomicInteger();
        VSocketLoopPoller poller = new VSocketLoopPoller() {
            @Override
            public int poll() {
                int n = pending.getAndSet(0);
                handled.addAndGet(n);
                return n;
            }

            @Override
            public boolean armAndCheck() {
                arms.incrementAndGet();
                return pending.get() > 0;
            }
        };
        VSocketIoHandler handler = loop.register(new EventFdHandle()).sync().getNow().attachment();
        loop.submit(() -> handler.addPoller(poller)).sync();
        // Work that appears while the loop spins is found by polling, with no wakeup at all.
        pending.set(3);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (handled.get() < 3 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(3, handled.get());
        // With nothing more to do the loop spins out its 1 ms, arms the poller and blocks.
        while (arms.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(arms.get() > 0, "the poller was never armed before blocking");
    }

    /**
     * A busy-polling loop (a spin far longer than the test) with a poller that never has work still
     * reports a ready descriptor: while it spins it looks at its epoll set too. (It once looked only
     * at its pollers until the spin ended, so with a busy spin a connection's hello on TCP stalled.)
     */
    @Test
    void aSpinningLoopStillReportsReadyDescriptors() throws Exception {
        assertNotNull(signalWhileGoingRound(Duration.ofMinutes(10), false, "the loop is spinning over its poller"),
                "a ready descriptor went unseen while the loop spun");
    }

    /** A poller that never has work: it makes the loop spin (a loop without pollers blocks at once). */
    private static VSocketLoopPoller idlePoller() {
        return new VSocketLoopPoller() {
            @Override
            public int poll() {
                return 0;
            }

            @Override
            public boolean armAndCheck() {
                return false;
            }
        };
    }

    /**
     * The adaptive loop learns from what wakes it. A task from a thread outside the loop (an
     * application's executor, a thread blocked on a future) stops its spin, and for a while I/O does
     * not bring the spin back (such a loop is one whose work crosses threads); once tasks stay away,
     * I/O that comes within the cap of the loop going idle restores the full spin. A loop whose spin
     * is fixed keeps it whatever comes.
     */
    @Test
    void anAdaptiveLoopDropsItsSpinForTasksFromOtherThreadsAndRegainsItForIo() throws Exception {
        long cap = TimeUnit.MILLISECONDS.toNanos(50);
        try (AdaptiveLoop adaptive = AdaptiveLoop.open(cap)) {
            IoEventLoop loop = adaptive.loop;
            EventFdHandle handle = adaptive.handle;
            VSocketIoHandler handler = adaptive.handler;
            Thread.sleep(10);
            loop.submit(() -> { }).sync(); // a task from this thread, while the loop spins
            // Read from this thread, never by a task: a task from this thread is what the loop reacts to.
            assertEquals(0, handler.spinNanos(), "a task from another thread stops the spin");
            for (int i = 0; i < SpinWindow.TRIAL_EVERY / 2; i++) {
                ioSoon(handle);
            }
            assertEquals(0, handler.spinNanos(), "I/O soon after a task from another thread does not restart the spin");
            for (int i = 0; i < SpinWindow.TRIAL_EVERY + SpinWindow.TRIAL_LENGTH; i++) {
                ioSoon(handle);
            }
            assertEquals(cap, handler.spinNanos(), "with no tasks from other threads, I/O within the cap restores it");
            loop.submit(() -> { }).sync();
            Thread.sleep(10);
            loop.submit(() -> { }).sync();
            assertEquals(0, handler.spinNanos(), "a task from another thread stops it again");
        }

        group = new VSocketEventLoopGroup(1, Duration.ofMillis(1));
        IoEventLoop fixedLoop = (IoEventLoop) group.next();
        VSocketIoHandler fixedHandler = fixedLoop.register(new EventFdHandle()).sync().getNow().attachment();
        fixedLoop.submit(() -> fixedHandler.addPoller(idlePoller())).sync();
        for (int i = 0; i < 5; i++) {
            Thread.sleep(5);
            fixedLoop.submit(() -> { }).sync();
        }
        assertEquals(TimeUnit.MILLISECONDS.toNanos(1), fixedHandler.spinNanos());
    }

    /**
     * A loop that hands what it reads to another thread, which answers with a task (gRPC's executor
     * writing a response, a caller blocked on a future writing its next request), learns to wait for
     * the answer after such reads: the answers then find it awake (no eventfd write to wake it). When
     * answers stop coming, it stops waiting.
     */
    @Test
    void aLoopThatHandsItsReadsToAnotherThreadWaitsForTheAnswer(@TempDir Path dir) throws Exception {
        long cap = TimeUnit.MILLISECONDS.toNanos(20);
        // Cores to spare, whatever else runs on the host meanwhile (see the next test).
        Path loadavg = loadavg(dir, 1);
        try (AdaptiveLoop adaptive = AdaptiveLoop.open(cap, () -> new FreeCores(loadavg))) {
            EventFdHandle handle = adaptive.handle;
            VSocketIoHandler handler = adaptive.handler;
            assertEquals(0, handler.handBackNanos(), "nothing learned yet");
            int rounds = 40;
            long signalsBefore = 0;
            for (int i = 0; i < 2 * rounds; i++) {
                if (i == rounds) {
                    assertEquals(cap, handler.handBackNanos(), "answers came back: the loop waits for them");
                    signalsBefore = handler.wakeupSignals();
                }
                readAndAnswer(adaptive);
            }
            long signals = handler.wakeupSignals() - signalsBefore;
            // Without the wait every answer wakes the loop; a stall now and then (a slow machine)
            // may still let one come after the cap.
            assertTrue(signals < rounds / 2, signals + " of " + rounds + " answers had to wake the loop");
            for (int i = 0; i < 100; i++) {
                handle.eventFd.signal();
                assertNotNull(handle.events.poll(5, TimeUnit.SECONDS));  // read, and no answer
            }
            // Each read's wait misses (the next read comes first): some 60 in a row bring it to zero,
            // so the last few, which may still be counted as this looks, do not matter.
            assertEquals(0, handler.handBackNanos(), "no answers: the wait faded");
        }
    }

    /**
     * With every core taken (by the host's count) a loop does not wait for an answer, as it does not
     * spin: it blocks, and each answer wakes it. It still learns from those wake-ups that answers
     * come within the cap, so once a core is free it waits at once. (A wait skipped for want of a core
     * once counted as one that ran out, a miss: on two cores, mostly busy under gRPC, the waits faded.)
     */
    @Test
    void aLoopWithNoCoreToSpareBlocksButStillLearnsThatAnswersComeBack(@TempDir Path dir) throws Exception {
        long cap = TimeUnit.MILLISECONDS.toNanos(20);
        Path loadavg = loadavg(dir, 99_999);
        try (AdaptiveLoop adaptive = AdaptiveLoop.open(cap, () -> new FreeCores(loadavg))) {
            int rounds = 40;
            long signalsBefore = adaptive.handler.wakeupSignals();
            int learned = 0;
            for (int i = 0; i < rounds; i++) {
                readAndAnswer(adaptive);
                if (adaptive.handler.handBackNanos() == cap) {
                    learned++;
                }
            }
            // Not every round: the setup's own task may mark the loop late, so that the first read's wake-up
            // passes for a task and no wait follows it, and a loaded machine (other JVMs on both cores) stalls a
            // round now and then (seen twice: answer 1 at 0). Fading waits, the bug, leave almost none.
            assertTrue(learned >= rounds * 3 / 4, "only " + learned + " of " + rounds + " answers kept the wait");
            long signals = adaptive.handler.wakeupSignals() - signalsBefore;
            // The loop blocked after each read, so the answers woke it (one that came while the loop
            // was still busy with the read, on a stalled machine, did not have to).
            assertTrue(signals > rounds / 2, "only " + signals + " of " + rounds + " answers woke the loop");

            loadavg(dir, 1); // a core is free again: once the loop samples that, it waits
            Thread.sleep(TimeUnit.NANOSECONDS.toMillis(FreeCores.SAMPLE_NANOS) + 1);
            readAndAnswer(adaptive); // the first idle period may still use the old sample
            signalsBefore = adaptive.handler.wakeupSignals();
            for (int i = 0; i < rounds; i++) {
                readAndAnswer(adaptive);
            }
            signals = adaptive.handler.wakeupSignals() - signalsBefore;
            assertTrue(signals < rounds / 2, signals + " of " + rounds + " answers had to wake the loop");
        }
    }

    /** A request comes in, the loop hands it over, which takes a moment, and the answer goes back. */
    private static void readAndAnswer(AdaptiveLoop adaptive) throws Exception {
        adaptive.handle.eventFd.signal();
        assertNotNull(adaptive.handle.events.poll(5, TimeUnit.SECONDS));
        LockSupport.parkNanos(200_000);
        adaptive.loop.submit(() -> { }).get(5, TimeUnit.SECONDS);
    }

    /** Writes a {@code /proc/loadavg} of {@code runnable} runnable threads for {@link FreeCores} to read. */
    private static Path loadavg(Path dir, int runnable) throws Exception {
        return Files.writeString(dir.resolve("loadavg"), "1.00 1.00 1.00 " + runnable + "/100000 4242\n");
    }

    /**
     * A one-loop group whose window adapts up to {@code cap}, with an eventfd handle registered for
     * reads and a poller that never has work (so that the loop may spin).
     */
    private record AdaptiveLoop(MultiThreadIoEventLoopGroup group, IoEventLoop loop, EventFdHandle handle,
                                VSocketIoHandler handler) implements AutoCloseable {
        static AdaptiveLoop open(long cap) throws Exception {
            return open(cap, FreeCores::new);
        }

        /** As {@link #open(long)}, telling free cores by {@code cores} rather than the host's count. */
        static AdaptiveLoop open(long cap, Supplier<FreeCores> cores) throws Exception {
            MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1,
                    VSocketIoHandler.newFactory(() -> SpinWindow.adaptive(cap), cores));
            IoEventLoop loop = (IoEventLoop) group.next();
            EventFdHandle handle = new EventFdHandle();
            IoRegistration registration = loop.register(handle).sync().getNow();
            VSocketIoHandler handler = registration.attachment();
            loop.submit(() -> {
                handler.addPoller(idlePoller());
                registration.submit(VSocketIoOps.READ);
            }).sync();
            return new AdaptiveLoop(group, loop, handle, handler);
        }

        @Override
        public void close() throws Exception {
            handle.close();
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).sync();
        }
    }

    /** Readiness a millisecond after the loop went idle (well within the cap): no task, no wakeup call. */
    private static void ioSoon(EventFdHandle handle) throws Exception {
        Thread.sleep(1);
        handle.eventFd.signal();
        assertNotNull(handle.events.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void onlyItsOwnHandlesAreCompatible() throws Exception {
        group = new VSocketEventLoopGroup(1);
        IoEventLoop loop = (IoEventLoop) group.next();
        assertTrue(loop.isCompatible(EventFdHandle.class));
        assertFalse(loop.isCompatible(io.netty.channel.IoHandle.class));
        assertThrows(IllegalArgumentException.class, () -> VSocketIoHandler.newFactory(Duration.ofNanos(-1)));
    }
}
