package io.vsocket.link.rdma;

import io.netty.channel.IoRegistration;
import io.vsocket.link.Resources;
import io.vsocket.loop.VSocketIoHandler;
import io.vsocket.loop.VSocketIoOps;

import java.io.IOException;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One event loop's rdma state: a context (protection domain, completion queues, shared receive
 * queue) per device port the loop has used, opened on first use, its completion queues polled first
 * among the loop's pollers and watched by its epoll, and closed when the loop ends (a
 * {@link VSocketIoHandler#service service} of the loop). Loop thread only.
 */
public final class RdmaLoop implements AutoCloseable {
    private final VSocketIoHandler loop;
    private final Map<RdmaPort, RdmaCompletions> contexts = new HashMap<>();
    /** Contexts on removed devices, waiting for their links to go (see {@link RdmaCompletions}). */
    private final List<RdmaCompletions> leaving = new ArrayList<>();
    /** Ports whose context could not be opened, why, and when: asked again within {@link RdmaPort#LOOK_AGAIN_NANOS}, they answer at once. */
    private final Map<RdmaPort, Failure> failures = new HashMap<>();

    private record Failure(String why, long atNanos) {
    }

    private RdmaLoop(VSocketIoHandler loop) {
        this.loop = loop;
    }

    /**
     * The rdma context of {@code loop} for the device port that serves {@code local} (a TCP
     * connection's local address), opened on first use. Throws, saying why, when there is none.
     */
    public static RdmaContext context(VSocketIoHandler loop, InetAddress local) throws IOException {
        return loop.service(RdmaLoop.class, RdmaLoop::new).context(local);
    }

    private RdmaContext context(InetAddress local) throws IOException {
        Optional<RdmaPort> found = RdmaPort.of(local);
        if (found.isEmpty()) {
            String why = RdmaPort.unavailability();
            throw new IOException(why != null ? why : "no RDMA device port has " + local.getHostAddress()
                    + " as a RoCE v2 address");
        }
        RdmaPort port = found.get();
        RdmaCompletions completions = contexts.get(port);
        if (completions != null) {
            return completions.context();
        }
        Failure failed = failures.get(port);
        if (failed != null) {
            if (System.nanoTime() - failed.atNanos < RdmaPort.LOOK_AGAIN_NANOS) {
                throw new IOException(failed.why);
            }
            failures.remove(port);
        }
        RdmaContext context = null;
        try {
            context = RdmaContext.open(port.device(), port.port(), port.gid());
            completions = new RdmaCompletions(this, port, context);
            IoRegistration registration = loop.register(completions);
            registration.submit(VSocketIoOps.of(VSocketIoOps.IN));
            completions.registered(registration);
        } catch (IOException | RuntimeException e) {
            Resources.closeQuietly(context);
            String why = "cannot open " + port.device() + " port " + port.port() + " for rdma: " + e.getMessage();
            failures.put(port, new Failure(why, System.nanoTime()));
            throw new IOException(why, e);
        }
        contexts.put(port, completions);
        // Woken (from the device watch's thread) when the device is removed: the loop lets go of it.
        context.device().addWaker(completions.waker());
        // First among the pollers: a turn sees the completions before the channels look at their links.
        loop.addPollerFirst(completions);
        return context;
    }

    VSocketIoHandler loop() {
        return loop;
    }

    /** {@code completions}' device is being removed: the next connection on its port looks the port up again. */
    void forget(RdmaPort port, RdmaCompletions completions) {
        contexts.remove(port, completions);
        leaving.add(completions);
    }

    /** A context on a removed device has closed. */
    void gone(RdmaCompletions completions) {
        leaving.remove(completions);
    }

    /** The loop ended (its channels, and their links, are gone): the contexts go. */
    @Override
    public void close() {
        for (RdmaCompletions completions : contexts.values()) {
            completions.context().device().removeWaker(completions.waker());
            Resources.closeQuietly(completions.context());
        }
        contexts.clear();
        for (RdmaCompletions completions : leaving.toArray(new RdmaCompletions[0])) {
            completions.letGoNow();
        }
    }
}
