package io.vsocket.unix;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.ffm.libc.iovec;
import io.vsocket.ffm.libc.mmsghdr;
import io.vsocket.ffm.libc.msghdr;
import io.vsocket.ffm.libc.sockaddr_in6;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Datagrams gathered for one {@code sendmmsg(2)}: a system call for up to {@link #CAPACITY} of them
 * instead of one each, which is what bounds a UDP sender's rate. One batch per thread (a loop
 * writes one channel at a time), reused: nothing is allocated per datagram, and a destination is
 * converted only when it is not the object the slot held last time.
 */
public final class DatagramBatch {
    public static final int CAPACITY = 64;
    private static final ThreadLocal<DatagramBatch> PER_THREAD = ThreadLocal.withInitial(DatagramBatch::new);

    private final MemorySegment messages;
    private final MemorySegment iovecs;
    private final MemorySegment names;
    private final InetSocketAddress[] written = new InetSocketAddress[CAPACITY];
    private int count;

    private DatagramBatch() {
        Arena arena = Arena.ofAuto();
        messages = arena.allocate(mmsghdr.LAYOUT, CAPACITY);
        iovecs = arena.allocate(iovec.LAYOUT, CAPACITY);
        names = arena.allocate(sockaddr_in6.LAYOUT, CAPACITY);
        for (int i = 0; i < CAPACITY; i++) {
            MemorySegment hdr = mmsghdr.msg_hdr(message(i));
            msghdr.msg_iov(hdr, iov(i));
            msghdr.msg_iovlen(hdr, 1);
        }
    }

    /** This thread's batch, empty. */
    public static DatagramBatch empty() {
        DatagramBatch batch = PER_THREAD.get();
        batch.count = 0;
        return batch;
    }

    private MemorySegment message(int i) {
        return messages.asSlice(i * mmsghdr.sizeof(), mmsghdr.sizeof());
    }

    private MemorySegment iov(int i) {
        return iovecs.asSlice(i * iovec.sizeof(), iovec.sizeof());
    }

    private MemorySegment name(int i) {
        return names.asSlice(i * sockaddr_in6.sizeof(), sockaddr_in6.sizeof());
    }

    public int size() {
        return count;
    }

    public boolean isFull() {
        return count == CAPACITY;
    }

    /** Adds the datagram {@code [address, address + length)} for {@code remote} (null: the connected peer). */
    public void add(long address, int length, InetSocketAddress remote) {
        if (count == CAPACITY) {
            throw new IllegalStateException("the batch is full");
        }
        int i = count++;
        // Plain stores at computed offsets: slices per datagram would allocate on the hot path.
        long iov = i * iovec.sizeof();
        iovecs.set(JAVA_LONG, iov + iovec.iov_base$OFFSET, address);
        iovecs.set(JAVA_LONG, iov + iovec.iov_len$OFFSET, length);
        long hdr = i * mmsghdr.sizeof() + mmsghdr.msg_hdr$OFFSET;
        if (remote == null) {
            messages.set(JAVA_LONG, hdr + msghdr.msg_name$OFFSET, 0L);
            messages.set(JAVA_INT, hdr + msghdr.msg_namelen$OFFSET, 0);
        } else {
            if (written[i] != remote) {
                SocketAddresses.write(name(i), remote);
                written[i] = remote;
            }
            messages.set(JAVA_LONG, hdr + msghdr.msg_name$OFFSET, names.address() + i * sockaddr_in6.sizeof());
            messages.set(JAVA_INT, hdr + msghdr.msg_namelen$OFFSET, (int) sockaddr_in6.sizeof());
        }
    }

    /**
     * Sends the batch on {@code socket}: how many datagrams the kernel took, from the first; 0 when
     * the first would block. The first one's failure throws; a later one's is the next call's first.
     */
    public int send(NativeSocket socket) throws NativeIoException {
        if (count == 0) {
            return 0;
        }
        MemorySegment errno = Downcalls.threadErrnoState();
        int n;
        int e;
        do {
            n = LibC.sendmmsg(errno, socket.fd(), messages, count, LibC.MSG_NOSIGNAL);
            e = n >= 0 ? 0 : Downcalls.errno(errno);
        } while (e == LibC.EINTR);
        if (n >= 0) {
            return n;
        }
        if (e == LibC.EAGAIN) {
            return 0;
        }
        throw new NativeIoException("sendmmsg", e);
    }
}
