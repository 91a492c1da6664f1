package io.vsocket.unix;

import io.vsocket.ffm.libc.LibC;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * What a hostile peer passes to make a close wait: a TCP socket set to linger a minute, with bytes its
 * far end never reads. {@link #detach()} hands out a descriptor of it that is the only one left;
 * whoever closes that last waits out the linger. {@link #close()} resets the connection from the far
 * end, which ends any such wait.
 */
final class LingeringTcp implements AutoCloseable {
    private final NativeSocket listener;
    private final NativeSocket farEnd;
    private NativeSocket near;

    private LingeringTcp(NativeSocket listener, NativeSocket farEnd, NativeSocket near) {
        this.listener = listener;
        this.farEnd = farEnd;
        this.near = near;
    }

    static LingeringTcp open() throws Exception {
        NativeSocket listener = NativeSocket.newStreamSocket();
        listener.setIntOption(LibC.SOL_SOCKET, LibC.SO_RCVBUF, 4096, "SO_RCVBUF"); // the accepted end inherits it
        listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        listener.listen(1);
        NativeSocket near = NativeSocket.newStreamSocket();
        near.connect(listener.localAddress());
        NativeSocket farEnd = null;
        for (int i = 0; i < 1000 && farEnd == null; i++) {
            farEnd = listener.accept();
            if (farEnd == null) {
                Thread.sleep(1);
            }
        }
        for (int i = 0; i < 1000 && !near.finishConnect(listener.localAddress()); i++) {
            Thread.sleep(1);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment chunk = arena.allocate(65536);
            while (near.write(chunk.address(), (int) chunk.byteSize()) > 0) {
                // until the far end's window and this end's buffer are full
            }
        }
        near.setLinger(60);
        return new LingeringTcp(listener, farEnd, near);
    }

    /** A descriptor of the lingering socket, the only one left (its owner object's is closed, not last). */
    int detach() throws Exception {
        int fd = FileDescriptors.duplicate(near.fd());
        near.close(); // not the last: the duplicate still holds the file, so this close does not wait
        near = null;
        return fd;
    }

    @Override
    public void close() throws Exception {
        farEnd.setLinger(0);
        farEnd.close(); // a reset: whoever still waits in the lingering close returns
        listener.close();
        if (near != null) {
            near.setLinger(0);
            near.close();
        }
    }
}
