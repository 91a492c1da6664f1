package io.vsocket.loop;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoOps;
import io.netty.channel.IoRegistration;
import io.netty.util.concurrent.SingleThreadEventExecutor;
import io.netty.util.concurrent.ThreadAwareExecutor;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.unix.Epoll;
import io.vsocket.unix.EventFd;
import io.vsocket.unix.NativeIoException;
import org.agrona.CloseHelper;
import org.agrona.collections.Long2ObjectHashMap;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * The vsocket event loop's I/O side (Netty 4.2 {@link IoHandler}). One per loop thread, it owns an
 * epoll set, a wakeup eventfd and the loop's user-space pollers. Each turn it handles what is ready
 * without blocking; when there is nothing, it spins on the pollers (never on epoll: that would be a
 * system call per spin) for as long as its {@link SpinWindow} says — by default a window learned
 * from what the spins catch, so that a loop whose work comes from threads outside the loops stops
 * spinning and leaves them the cores — arms them, and blocks in one {@code epoll_wait} until a
 * descriptor is ready, the next scheduled task is due, or another thread wakes it. The eventfd is
 * written only when the loop is actually asleep.
 */
public final class VSocketIoHandler implements IoHandler {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(VSocketIoHandler.class);

    /**
     * The longest spin of the default, adaptive policy: 50 µs, or {@code io.vsocket.spinNanos}, which
     * (being an explicit choice) also fixes the spin at that value, as {@link #newFactory(Duration)} does.
     */
    public static final long DEFAULT_SPIN_NANOS = Long.getLong("io.vsocket.spinNanos", 50_000L);
    /** Whether the default spin adapts: true unless {@code io.vsocket.spinNanos} fixes it. */
    private static final boolean DEFAULT_SPIN_ADAPTIVE = System.getProperty("io.vsocket.spinNanos") == null;
    /** epoll data word of the wakeup eventfd; registrations are numbered from 1. */
    private static final long WAKEUP = 0;
    private static final int MAX_EVENTS = 256;
    private static final int EPOLL_EVERY = 16;
    /** While spinning idle, the epoll set is looked at every this many turns (a few microseconds). */
    private static final int SPIN_EPOLL_EVERY = 64;
    /**
     * A spin that waits for another thread's task yields the core every this many turns (a power of
     * two): often enough that a thread queued behind it runs within a microsecond or so; measured on
     * 2 cores against every 16 turns and every turn, with gRPC's executors.
     */
    private static final int YIELD_EVERY = 4;
    /** A wait for another thread's task looks every this many turns whether to give up (a power of two). */
    private static final int GIVE_UP_CHECK_EVERY = 8;

    private final ThreadAwareExecutor executor;
    private final SpinWindow spin;
    private final FreeCores freeCores;
    /** Whether this loop spins without yielding now, for other loops' waits to see. */
    private final SpinningLoops.Slot spinning;
    private final Epoll epoll;
    private final EventFd wakeupFd;
    /** False only while the loop is (about to be) blocked in epoll_wait: then wakeups must signal. */
    private final AtomicBoolean awake = new AtomicBoolean(true);
    /**
     * Set by a thread outside the loop that submitted a task; taken (and cleared) by the loop when
     * its idle period ends, so a task that came while the loop was busy counts as well.
     */
    private volatile boolean taskFromAnotherThread;
    /** Tasks of other threads that found the loop blocked and wrote its eventfd (see {@link #wakeupSignals}). */
    private volatile long wakeupSignals;
    private final Long2ObjectHashMap<Registration> registrations = new Long2ObjectHashMap<>();
    private final List<VSocketLoopPoller> pollers = new ArrayList<>();
    /** Pollers taken out during the current pass ({@link #removePoller}): gone at its end. */
    private final Set<VSocketLoopPoller> leaving = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean inPass;
    private final VSocketIoEvent event = new VSocketIoEvent();
    /** Per-loop state of the layers above, by type ({@link #service}); closed when the loop ends. */
    private final Map<Class<?>, AutoCloseable> services = new HashMap<>();
    private long nextId = WAKEUP + 1;
    private int busyTurns;
    /** The last non-blocking pass looked at the epoll set too (see {@link #pollOnce}). */
    private boolean epollLooked;
    /** The loop has ended and is being destroyed: nothing registers on it any more (loop thread). */
    private boolean destroying;
    private long epollWaits;

    private VSocketIoHandler(ThreadAwareExecutor executor, SpinWindow spin, FreeCores freeCores) {
        this.executor = executor;
        this.spin = spin;
        this.freeCores = freeCores;
        Epoll e = null;
        EventFd w = null;
        try {
            e = Epoll.create(MAX_EVENTS);
            w = EventFd.create();
            e.add(w.fd(), VSocketIoOps.IN | VSocketIoOps.EDGE, WAKEUP);
        } catch (NativeIoException ex) {
            if (w != null) {
                w.close();
            }
            if (e != null) {
                e.close();
            }
            freeCores.close();
            throw new UncheckedIOException("cannot create the vsocket event loop", ex);
        }
        this.epoll = e;
        this.wakeupFd = w;
        this.spinning = SpinningLoops.register();
    }

    /**
     * A factory for handlers with the default idle policy: a spin that adapts to the work between
     * zero and {@link #DEFAULT_SPIN_NANOS} (or, with {@code -Dio.vsocket.spinNanos}, that fixed spin).
     */
    public static IoHandlerFactory newFactory() {
        return DEFAULT_SPIN_ADAPTIVE ? newAdaptiveFactory(Duration.ofNanos(DEFAULT_SPIN_NANOS))
                : newFactory(Duration.ofNanos(DEFAULT_SPIN_NANOS));
    }

    /**
     * A factory for handlers that always spin {@code spin} before blocking: zero blocks at once, a
     * long spin busy-polls (a core per loop, for the lowest latency when cores are to spare).
     */
    public static IoHandlerFactory newFactory(Duration spin) {
        long nanos = requireNotNegative(spin);
        return executor -> new VSocketIoHandler(executor, SpinWindow.fixed(nanos), new FreeCores());
    }

    /** A factory for handlers whose spin adapts to the work, between zero and {@code cap}. */
    public static IoHandlerFactory newAdaptiveFactory(Duration cap) {
        long nanos = requireNotNegative(cap);
        return executor -> new VSocketIoHandler(executor, SpinWindow.adaptive(nanos), new FreeCores());
    }

    /** A factory for handlers with the given idle policy, one window per loop (for tests). */
    static IoHandlerFactory newFactory(java.util.function.Supplier<SpinWindow> spin) {
        return newFactory(spin, FreeCores::new);
    }

    /** Handlers with the given idle policy that tell free cores by {@code cores} (tests); each handler closes its own. */
    static IoHandlerFactory newFactory(java.util.function.Supplier<SpinWindow> spin,
                                       java.util.function.Supplier<FreeCores> cores) {
        return executor -> new VSocketIoHandler(executor, spin.get(), cores.get());
    }

    private static long requireNotNegative(Duration spin) {
        long nanos = spin.toNanos();
        if (nanos < 0) {
            throw new IllegalArgumentException("spin must not be negative: " + spin);
        }
        return nanos;
    }

    /** The spin of the next idle period (it changes as an adaptive window learns); any thread may ask. */
    public long spinNanos() {
        return spin.nanos();
    }

    /** How many times another thread's task had to wake the blocked loop (for tests); any thread may ask. */
    long wakeupSignals() {
        return wakeupSignals;
    }

    /** How long the loop waits for another thread's answer after reads it handed over; any thread may ask. */
    long handBackNanos() {
        return spin.handBackNanos();
    }

    /** Adds a user-space queue to poll while spinning. Loop thread only. */
    public void addPoller(VSocketLoopPoller poller) {
        assert executor.isExecutorThread(Thread.currentThread());
        if (!leaving.remove(poller)) {
            pollers.add(poller);
        }
    }

    /**
     * Takes a poller out of the loop's turns until it is added again: one whose queue is gone, or
     * parked (its peer rings a doorbell the loop's epoll watches), so that a loop's turn costs in
     * proportion to the queues with work, not to all it has. Called during a pass over the pollers
     * (from a poller's own {@code poll}, or a channel it closes), it takes effect at the pass's end,
     * so the pass visits every other poller. Loop thread only.
     */
    public void removePoller(VSocketLoopPoller poller) {
        assert executor.isExecutorThread(Thread.currentThread());
        if (inPass) {
            leaving.add(poller);
        } else {
            pollers.remove(poller);
        }
    }

    /** How many pollers the loop's turns visit now (a metric). Loop thread only. */
    public int pollerCount() {
        return pollers.size() - leaving.size();
    }

    /**
     * Adds a poller that runs before all the others: a completion queue, so a turn sees the
     * completions before the channels look at their links. Loop thread only.
     */
    public void addPollerFirst(VSocketLoopPoller poller) {
        assert executor.isExecutorThread(Thread.currentThread());
        pollers.add(0, poller);
    }

    /**
     * This loop's part of {@code type}, made by {@code open} on first use: how a layer above the loop
     * keeps per-loop state (the rdma link's contexts, one per device port) without the loop knowing
     * it. The loop closes it when it ends, after every registered handle. Loop thread only.
     */
    public <T extends AutoCloseable> T service(Class<T> type, Function<VSocketIoHandler, T> open) {
        assert executor.isExecutorThread(Thread.currentThread());
        AutoCloseable service = services.get(type);
        if (service == null) {
            service = open.apply(this);
            services.put(type, service);
        }
        return type.cast(service);
    }

    @Override
    public int run(IoHandlerContext context) {
        try {
            int handled = pollOnce(context);
            if (handled > 0 || !context.canBlock()) {
                return handled;
            }
            long idleSince = System.nanoTime();
            if (!pollers.isEmpty()) {
                // A task another thread submitted while the loop was busy: the turn was not I/O's alone.
                boolean quiet = !takeTaskMark();
                if (!quiet) {
                    spin.taskFromAnotherThread();
                }
                long window = spin.startIdle(quiet);
                if (window > 0 && spin.isAdaptive() && !freeCores.spare(idleSince)) {
                    // Every core is taken: a spin would only delay a woken thread queued behind it.
                    // That holds for a wait that yields too: beside two busy processes, gRPC unary
                    // took 2.6x as long with such waits. The loop blocks instead, and learns from
                    // what wakes it as a loop that had no spin does: a skipped wait missed nothing.
                    window = 0;
                }
                if (window > 0) {
                    if (!epollLooked) {
                        // A spin nobody expected (a trial began with this period, or a wait for an
                        // answer): look at the set first, as pollOnce would have, so that what was ready
                        // already is not taken for I/O the spin caught, nor left until its first look.
                        handled = look();
                        if (handled > 0 || !context.canBlock()) {
                            idleEndedUncaught(context, handled, idleSince);
                            return handled;
                        }
                    }
                    handled = spinFor(context, idleSince, window);
                    if (handled >= 0) {
                        return handled;
                    }
                }
                for (int i = 0; i < pollers.size(); i++) {
                    if (pollers.get(i).armAndCheck()) {
                        spin.caught(takeTaskMark(), System.nanoTime() - idleSince);
                        int polled = pollPollers();
                        // A poller that says it has work may find none when polled (a link whose peer
                        // left, waiting for its socket's hang-up): without this look, such a loop would
                        // go round here for ever and never see a descriptor again.
                        return epollLooked ? polled : polled + look();
                    }
                }
            }
            return block(context, idleSince);
        } catch (Error e) {
            throw e;
        } catch (Throwable t) {
            logger.warn("Unexpected exception in the vsocket event loop", t);
            return 0;
        }
    }

    /**
     * Spins over the pollers (and now and then the epoll set) until work comes or the window ends:
     * what was handled, or -1 when the window ended with nothing. A spin that waits for another
     * thread's task ({@link SpinWindow#yields}) yields the core now and then, and gives the wait up
     * when another loop spins without yielding.
     */
    private int spinFor(IoHandlerContext context, long idleSince, long window) throws NativeIoException {
        long deadline = idleSince + window;
        boolean yields = spin.yields();
        boolean mayGiveUp = spin.waitsBeyondWindow();
        spinning.spinning = !yields && window > 0;
        try {
            int turns = 0;
            while (System.nanoTime() - deadline < 0) {
                if (mayGiveUp && (turns & (GIVE_UP_CHECK_EVERY - 1)) == 0 && SpinningLoops.othersSpin(spinning)) {
                    // A core is taken by a loop that does not yield, where the thread this waits
                    // for may be queued: leave it this one.
                    deadline = idleSince + Math.min(window, spin.waitGivenUp());
                    yields = false;
                    mayGiveUp = false;
                    spinning.spinning = deadline - idleSince > 0;
                    continue;
                }
                int handled = pollPollers();
                if (++turns % SPIN_EPOLL_EVERY == 0) {
                    // The descriptors too (a hello, a tcp link, an accept): a spin as long as the
                    // busy-polling one must not leave them unseen until it ends.
                    handled += processReady(epollWait(0));
                }
                if (handled > 0 || !context.canBlock()) {
                    // Handling I/O may have queued tasks of the loop's own: only a task pending
                    // with nothing handled must be another thread's; with neither, a timer is due.
                    boolean task = anotherThreadsTask(context, handled);
                    if (handled == 0 && !task) {
                        spin.wokenByTimer();
                    } else {
                        spin.caught(task, System.nanoTime() - idleSince);
                    }
                    return handled;
                }
                if (yields && (turns & (YIELD_EVERY - 1)) == 0) {
                    // Waiting for another thread's task: that thread may be queued on this core.
                    Thread.yield();
                } else {
                    Thread.onSpinWait();
                }
            }
            spin.spinRanOut();
            return -1;
        } finally {
            spinning.spinning = false;
        }
    }

    /**
     * The idle period ended with nothing a spin caught: at its first look, before any spin, or as the
     * loop went to block. Nothing to learn about a spin, but a wait for an answer learns whether the
     * answer or other work came first.
     */
    private void idleEndedUncaught(IoHandlerContext context, int handled, long idleSince) {
        if (anotherThreadsTask(context, handled)) {
            spin.taskEndedIdle(System.nanoTime() - idleSince);
        } else if (handled > 0) {
            spin.wokenByIoAtOnce();
        } else {
            spin.wokenByTimer();
        }
    }

    /**
     * Whether what ended an idle period, with {@code handled} I/O handled, includes another thread's
     * task: the mark, or a task pending with nothing handled (handling I/O may have queued tasks of
     * the loop's own). Clears the mark.
     */
    private boolean anotherThreadsTask(IoHandlerContext context, int handled) {
        return takeTaskMark() | (handled == 0 && taskPending(context));
    }

    /** Whether another thread submitted a task since the last time this was asked; clears the mark. */
    private boolean takeTaskMark() {
        if (taskFromAnotherThread) {
            taskFromAnotherThread = false;
            return true;
        }
        return false;
    }

    /**
     * Whether a task waits that no timer made due: while the loop is idle it submits nothing itself,
     * so such a task came from another thread (seen here before that thread's {@code wakeup()} has
     * marked it: Netty adds the task first).
     */
    private static boolean taskPending(IoHandlerContext context) {
        // The clock read after canBlock(): a timer that fell due in between must not pass for a task.
        return !context.canBlock() && context.delayNanos(System.nanoTime()) > 0;
    }

    /**
     * One non-blocking look at everything: the pollers, and the epoll set. While the pollers keep
     * finding work (a busy shm stream, a ping-pong) the epoll set is looked at only every
     * {@link #EPOLL_EVERY} turns: {@code epoll_wait} is a system call, a poller a few loads, and at a
     * microsecond per round trip the system call would be a good part of it. Descriptors still get
     * their turn; a loop about to block without a spin leaves the look to its blocking wait.
     */
    private int pollOnce(IoHandlerContext context) throws NativeIoException {
        int handled = pollPollers();
        if (handled > 0 && ++busyTurns < EPOLL_EVERY) {
            return handled;
        }
        busyTurns = 0;
        if (handled == 0 && context.canBlock() && !spinsNext()) {
            // The loop is about to block without a spin: the blocking epoll_wait looks at the set as
            // well (it returns at once if anything is ready), so a look now would be a system call for
            // nothing on every wake-up — as Netty's epoll loop, which looks first only when tasks wait.
            epollLooked = false;
            return 0;
        }
        return handled + look();
    }

    /** A non-blocking look at the epoll set, handling what is ready. */
    private int look() throws NativeIoException {
        epollLooked = true;
        return processReady(epollWait(0));
    }

    private int epollWait(int timeoutMillis) throws NativeIoException {
        epollWaits++;
        return epoll.wait(timeoutMillis);
    }

    /** How many {@code epoll_wait} calls this loop has made (for tests of its system-call economy). Loop thread. */
    long epollWaits() {
        return epollWaits;
    }

    /** Whether the next idle period would spin (a trial that starts with it, or a wait for an answer, aside). */
    private boolean spinsNext() {
        return !pollers.isEmpty() && spin.nanos() > 0;
    }

    private int pollPollers() {
        inPass = true;
        int handled = 0;
        try {
            for (int i = 0; i < pollers.size(); i++) {
                handled += pollers.get(i).poll();
            }
        } finally {
            inPass = false;
            if (!leaving.isEmpty()) {
                pollers.removeIf(leaving::contains);
                leaving.clear();
            }
        }
        return handled;
    }

    private int block(IoHandlerContext context, long idleSince) throws NativeIoException {
        awake.set(false);
        int ready;
        try {
            // A task that arrived before awake went false did not signal: look again before blocking.
            if (!context.canBlock()) {
                idleEndedUncaught(context, 0, idleSince);
                return 0;
            }
            ready = epollWait(timeoutMillis(context));
        } finally {
            awake.set(true);
        }
        if (ready == 0) {
            // A timer was due: that says nothing about how soon work comes.
            spin.wokenByTimer();
            return 0;
        }
        // Learn before handling (a handler may look at the window). The wakeup eventfd is written
        // only by other threads' tasks (possibly one that an earlier turn already ran, if it
        // signalled late): never I/O that a spin could have caught. A loop without pollers never
        // spins, so it has nothing to learn.
        if (!pollers.isEmpty()) {
            long gap = System.nanoTime() - idleSince;
            boolean fromAnotherThread = takeTaskMark() | wakeupAmong(ready);
            if (epollLooked || gap >= SpinWindow.MIN_SPIN_NANOS) {
                spin.wokenByWork(gap, fromAnotherThread);
            } else if (fromAnotherThread) {
                // Not looked at before blocking, and back at once: what was ready may have been so
                // before the loop went idle, which says nothing about a spin; a task still does.
                spin.taskEndedIdle(gap);
            } else {
                spin.wokenByIoAtOnce();
            }
        }
        return processReady(ready);
    }

    private static int timeoutMillis(IoHandlerContext context) {
        // delayNanos, not deadlineNanos: the deadline is on the executor's own clock (it starts near
        // zero), so comparing it with System.nanoTime() made every wait a zero-timeout poll.
        long delay = context.delayNanos(System.nanoTime());
        if (delay <= 0) {
            return 0;
        }
        // Round up: waking early would only spin back here.
        return (int) Math.min(Integer.MAX_VALUE, (delay + 999_999) / 1_000_000);
    }

    private boolean wakeupAmong(int ready) {
        for (int i = 0; i < ready; i++) {
            if (epoll.readyData(i) == WAKEUP) {
                return true;
            }
        }
        return false;
    }

    private int processReady(int ready) {
        int handled = 0;
        for (int i = 0; i < ready; i++) {
            long id = epoll.readyData(i);
            if (id == WAKEUP) {
                continue; // edge-triggered: nothing to read back
            }
            Registration registration = registrations.get(id);
            if (registration != null && registration.isValid()) {
                event.flags(epoll.readyEvents(i));
                registration.handle.handle(registration, event);
                handled++;
            }
        }
        return handled;
    }

    @Override
    public void wakeup() {
        if (!executor.isExecutorThread(Thread.currentThread())) {
            if (!taskFromAnotherThread) {
                taskFromAnotherThread = true;
            }
            if (awake.compareAndSet(false, true)) {
                wakeupSignals++; // one winner per blocking wait: the compareAndSet orders them
                wakeupFd.signal();
            }
        }
    }

    @Override
    public IoRegistration register(IoHandle handle) {
        if (destroying) {
            // A listener run by a channel's close in destroy() (below) that registers a channel here: the loop is
            // gone; Netty fails the registration and closes that channel.
            throw new IllegalStateException("the event loop has ended");
        }
        VSocketIoHandle ioHandle = (VSocketIoHandle) handle;
        Registration registration = new Registration(nextId++, ioHandle);
        registrations.put(registration.id, registration);
        ioHandle.registered();
        return registration;
    }

    @Override
    public boolean isCompatible(Class<? extends IoHandle> handleType) {
        return VSocketIoHandle.class.isAssignableFrom(handleType);
    }

    /** The number of live registrations (for tests and leak checks). */
    public int registrationCount() {
        return registrations.size();
    }

    /**
     * Netty's loop calls {@link #prepareToDestroy()} only after an I/O turn that saw the shut-down begin; one
     * that begins while the loop runs its tasks (with no quiet period: {@code shutdownGracefully(0, ...)},
     * common in tests and short programs) ends the loop without it, and the channels left were closed in
     * {@link #destroy()}, where Netty can no longer run a task: no {@code channelInactive}, and a warning with a
     * stack trace per channel ("Can't invoke task later"). A shut-down hook runs while the loop still takes
     * tasks, after the loop's last turn, so the channels close as Netty's close means them to. Epoll's loop
     * has the same gap and leaves such channels open.
     */
    private final Runnable closeWhatIsLeftAtShutdown = this::prepareToDestroy;

    @Override
    public void initialize() {
        if (executor instanceof SingleThreadEventExecutor loop) {
            loop.addShutdownHook(closeWhatIsLeftAtShutdown); // a set: a loop that resumes adds it once
        }
    }

    @Override
    public void prepareToDestroy() {
        for (Registration registration : registrations.values().toArray(new Registration[0])) {
            registration.close();
        }
    }

    @Override
    public void destroy() {
        // The loop may end without calling prepareToDestroy (one that is not a SingleThreadEventExecutor runs no
        // shut-down hook: see closeWhatIsLeftAtShutdown): release what is left here. A channel's
        // close runs the application's listeners here, on the loop's thread; none may register anything
        // more on this loop (see register).
        destroying = true;
        for (Registration registration : registrations.values().toArray(new Registration[0])) {
            registrations.remove(registration.id);
            try {
                registration.handle.closeAfterLoopEnded();
                registration.handle.unregistered();
            } catch (Exception e) {
                logger.debug("Exception closing {} after the loop ended", registration.handle, e);
            }
        }
        for (AutoCloseable service : services.values()) {
            CloseHelper.quietClose(service);
        }
        services.clear();
        spinning.close();
        freeCores.close();
        try {
            wakeupFd.close();
        } finally {
            epoll.close();
        }
    }

    private final class Registration implements IoRegistration {
        final long id;
        final VSocketIoHandle handle;
        private boolean added;
        private boolean cancelled;

        Registration(long id, VSocketIoHandle handle) {
            this.id = id;
            this.handle = handle;
        }

        @SuppressWarnings("unchecked")
        @Override
        public <T> T attachment() {
            return (T) VSocketIoHandler.this;
        }

        @Override
        public synchronized long submit(IoOps ops) {
            if (cancelled) {
                return -1;
            }
            int flags = ((VSocketIoOps) ops).flags();
            try {
                if (flags == 0) {
                    if (added) {
                        epoll.remove(handle.fd());
                        added = false;
                    }
                } else if (added) {
                    epoll.modify(handle.fd(), flags, id);
                } else {
                    epoll.add(handle.fd(), flags, id);
                    added = true;
                }
            } catch (NativeIoException e) {
                throw new UncheckedIOException(e);
            }
            return flags;
        }

        @Override
        public synchronized boolean isValid() {
            return !cancelled;
        }

        @Override
        public boolean cancel() {
            synchronized (this) {
                if (cancelled) {
                    return false;
                }
                cancelled = true;
            }
            if (executor.isExecutorThread(Thread.currentThread())) {
                cancelOnLoop();
            } else {
                executor.execute(this::cancelOnLoop);
            }
            return true;
        }

        private void cancelOnLoop() {
            if (registrations.remove(id) == null) {
                return;
            }
            synchronized (this) {
                if (added) {
                    added = false;
                    try {
                        epoll.remove(handle.fd());
                    } catch (NativeIoException e) {
                        // Already closed: the kernel dropped it from the set by itself.
                        logger.debug("epoll_ctl(DEL) of fd {} failed: {}", handle.fd(), e.getMessage());
                    }
                }
            }
            handle.unregistered();
        }

        void close() {
            cancel();
            try {
                handle.close();
            } catch (Exception e) {
                logger.debug("Exception closing {} at shutdown", handle, e);
            }
        }
    }
}
