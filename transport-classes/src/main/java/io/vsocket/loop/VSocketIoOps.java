package io.vsocket.loop;

import io.netty.channel.IoOps;
import io.vsocket.ffm.libc.LibC;

/**
 * The readiness a {@link VSocketIoHandle} asks for: a set of {@code EPOLL*} flags. Submitting
 * {@link #NONE} removes the descriptor from the loop's epoll set.
 */
public final class VSocketIoOps implements IoOps {
    public static final int IN = LibC.EPOLLIN;
    public static final int OUT = LibC.EPOLLOUT;
    public static final int RDHUP = LibC.EPOLLRDHUP;
    public static final int ERR = LibC.EPOLLERR;
    public static final int HUP = LibC.EPOLLHUP;
    /** Urgent (out-of-band) data: how a vsocket client announces itself to a server. */
    public static final int PRI = LibC.EPOLLPRI;
    /**
     * Edge-triggered, for eventfds: every write to an eventfd is an event of its own (the kernel wakes
     * its waiters on each, seen while the counter is above zero), so a handle that asks for
     * {@code IN | EDGE} never has to read the counter back to zero — one system call fewer per wake-up,
     * as Netty's epoll loop does with its own.
     */
    public static final int EDGE = LibC.EPOLLET;

    public static final VSocketIoOps NONE = new VSocketIoOps(0);
    public static final VSocketIoOps READ = new VSocketIoOps(IN | RDHUP);
    public static final VSocketIoOps READ_WRITE = new VSocketIoOps(IN | RDHUP | OUT);

    private final int flags;

    private VSocketIoOps(int flags) {
        this.flags = flags;
    }

    public static VSocketIoOps of(int flags) {
        return switch (flags) {
            case 0 -> NONE;
            case IN | RDHUP -> READ;
            case IN | RDHUP | OUT -> READ_WRITE;
            default -> new VSocketIoOps(flags);
        };
    }

    public int flags() {
        return flags;
    }

    public boolean contains(int mask) {
        return (flags & mask) != 0;
    }

    @Override
    public String toString() {
        return "VSocketIoOps(0x" + Integer.toHexString(flags) + ")";
    }
}
