package io.vsocket.link.rdma;

import io.vsocket.ffm.ibverbs.ibv_recv_wr;
import io.vsocket.link.Resources;
import io.vsocket.verbs.CompletionBatch;
import io.vsocket.verbs.CompletionChannel;
import io.vsocket.verbs.CompletionQueue;
import io.vsocket.verbs.GidEntry;
import io.vsocket.verbs.Mtu;
import io.vsocket.verbs.ProtectionDomain;
import io.vsocket.verbs.SharedReceiveQueue;
import io.vsocket.verbs.VerbsDevice;
import io.vsocket.verbs.VerbsException;
import org.agrona.collections.Int2ObjectHashMap;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The verbs resources the rdma links of one event loop share: a protection domain, one completion
 * queue (with its completion channel, whose descriptor the loop can wait on) for every queue pair,
 * and one shared receive queue. Every message of the link protocol is an RDMA WRITE_WITH_IMM, whose
 * receive needs no buffer, so the shared receive queue holds empty receives, replenished one for
 * one as they complete. Completions are dispatched to links by queue pair number. One thread only.
 */
public final class RdmaContext implements AutoCloseable {
    private static final int RECEIVES = 1024;

    private final VerbsDevice device;
    private final int port;
    private final GidEntry gid;
    private final Mtu mtu;
    private final ProtectionDomain pd;
    private final CompletionChannel channel;
    private final CompletionQueue cq;
    private final SharedReceiveQueue srq;
    private final CompletionBatch batch = new CompletionBatch(32);
    private final Arena arena = Arena.ofShared();
    private final MemorySegment emptyReceive;
    private final Int2ObjectHashMap<RdmaLink> links = new Int2ObjectHashMap<>();
    private boolean closed;

    private RdmaContext(VerbsDevice device, int port, GidEntry gid) throws VerbsException {
        this.device = device;
        this.port = port;
        this.gid = gid;
        ProtectionDomain p = null;
        CompletionChannel ch = null;
        CompletionQueue q = null;
        SharedReceiveQueue s = null;
        try {
            this.mtu = device.queryPort(port).activeMtu();
            p = device.allocateProtectionDomain();
            ch = device.createCompletionChannel();
            q = device.createCompletionQueue(4 * RECEIVES, ch);
            s = p.createSharedReceiveQueue(RECEIVES, 1);
        } catch (VerbsException | RuntimeException e) {
            Resources.closeQuietly(s, q, ch, p);
            batch.close();
            arena.close();
            throw e;
        }
        this.pd = p;
        this.channel = ch;
        this.cq = q;
        this.srq = s;
        this.emptyReceive = ibv_recv_wr.allocate(arena);
        for (int i = 0; i < RECEIVES; i++) {
            srq.postReceive(emptyReceive);
        }
    }

    /** Shares {@code device}'s {@code port}, addressing peers from {@code gid}; takes ownership of the device. */
    public static RdmaContext open(VerbsDevice device, int port, GidEntry gid) throws VerbsException {
        return new RdmaContext(device, port, gid);
    }

    VerbsDevice device() {
        return device;
    }

    ProtectionDomain protectionDomain() {
        return pd;
    }

    CompletionQueue completionQueue() {
        return cq;
    }

    SharedReceiveQueue sharedReceiveQueue() {
        return srq;
    }

    int port() {
        return port;
    }

    GidEntry gid() {
        return gid;
    }

    Mtu mtu() {
        return mtu;
    }

    /** The descriptor that becomes readable on a completion, once notification is armed. */
    public int completionFd() {
        return channel.fd();
    }

    /** A new link on this context, receiving into a ring of {@code ringSize} bytes. */
    public RdmaLink newLink(int ringSize) throws VerbsException {
        RdmaLink link = new RdmaLink(this, ringSize);
        links.put(link.qpNumber(), link);
        return link;
    }

    void forget(RdmaLink link) {
        links.remove(link.qpNumber());
    }

    /**
     * Polls the completion queue once and hands each completion to its link; a link whose
     * completion failed, or whose peer broke the protocol, is failed (its {@link RdmaLink#failure()}
     * set) and the others go on. Returns the number of completions.
     */
    public int poll() throws VerbsException {
        int n = cq.poll(batch);
        for (int i = 0; i < n; i++) {
            if (RdmaLink.isReceive(batch.opcode(i)) || !batch.isSuccess(i) && batch.wrId(i) == 0) {
                srq.postReceive(emptyReceive);
            }
            RdmaLink link = links.get(batch.qpNumber(i));
            if (link != null) {
                link.completed(batch, i);
            }
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        for (RdmaLink link : links.values().toArray(new RdmaLink[0])) {
            link.close();
        }
        Resources.closeQuietly(srq, cq, channel, pd, device);
        batch.close();
        arena.close();
    }
}
