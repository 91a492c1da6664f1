package io.vsocket.loop;

import io.netty.channel.IoEvent;

/**
 * What became ready on a {@link VSocketIoHandle}: the {@code EPOLL*} flags epoll reported. The
 * handler reuses one instance per loop, so a handle must read it during {@code handle} and not
 * keep it.
 */
public final class VSocketIoEvent implements IoEvent {
    private int flags;

    VSocketIoEvent() {
    }

    void flags(int flags) {
        this.flags = flags;
    }

    public int flags() {
        return flags;
    }

    public boolean isReadable() {
        return (flags & (VSocketIoOps.IN | VSocketIoOps.RDHUP | VSocketIoOps.HUP | VSocketIoOps.ERR)) != 0;
    }

    public boolean isWritable() {
        return (flags & (VSocketIoOps.OUT | VSocketIoOps.ERR)) != 0;
    }

    public boolean isHangUp() {
        return (flags & (VSocketIoOps.RDHUP | VSocketIoOps.HUP)) != 0;
    }

    @Override
    public String toString() {
        return "VSocketIoEvent(0x" + Integer.toHexString(flags) + ")";
    }
}
