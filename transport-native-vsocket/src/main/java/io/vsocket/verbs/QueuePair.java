package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_qp;
import io.vsocket.ffm.ibverbs.ibv_qp_attr;
import io.vsocket.ffm.ibverbs.ibv_qp_init_attr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.*;
import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * A queue pair ({@code struct ibv_qp}). It starts in RESET; the transition methods move it
 * RESET -> INIT -> RTR -> RTS with the attributes each transport needs, and {@link #toError()}
 * flushes it before teardown. A refused transition throws {@link VerbsException} naming both states.
 */
public final class QueuePair extends VerbsResource {
    /** RC defaults: 4.096 us * 2^14 = 67 ms ACK timeout, 7 retries, RNR retry forever-ish (7). */
    private static final int ACK_TIMEOUT = 14;
    private static final int RETRY_COUNT = 7;
    private static final int RNR_RETRY = 7;
    /** RNR NAK timer 12: 0.64 ms before a sender retries a receiver that had no receive posted. */
    private static final int MIN_RNR_TIMER = 12;
    private static final int RD_ATOMIC = 4;

    private final QpType type;
    private final int qpNumber;
    private final int maxSendRequests;
    private final int maxInlineData;
    private final MemorySegment badRequest = Arena.ofAuto().allocate(ADDRESS);

    QueuePair(MemorySegment qp, QpType type, int maxSendRequests, int maxInlineData) {
        super(qp);
        this.type = type;
        this.qpNumber = ibv_qp.qp_num(qp.reinterpret(ibv_qp.LAYOUT.byteSize()));
        this.maxSendRequests = maxSendRequests;
        this.maxInlineData = maxInlineData;
    }

    public QpType type() {
        return type;
    }

    /** The QPN peers address this queue pair by. */
    public int qpNumber() {
        return qpNumber;
    }

    /** The send queue depth the device granted. */
    public int maxSendRequests() {
        return maxSendRequests;
    }

    /** The inline payload size the device granted. */
    public int maxInlineData() {
        return maxInlineData;
    }

    /** The current state, from {@code ibv_query_qp}. */
    public QpState state() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment attr = ibv_qp_attr.allocate(arena);
            MemorySegment init = ibv_qp_init_attr.allocate(arena);
            VerbsException.check("ibv_query_qp(" + this + ")",
                    Ibverbs.ibv_query_qp(errno, handle(), attr, IBV_QP_STATE, init), errno);
            return QpState.ofCode(ibv_qp_attr.qp_state(attr));
        }
    }

    /** RESET -> INIT for RC/UC: {@code accessFlags} are the remote operations peers may do on this QP. */
    public void initConnected(int port, int accessFlags) throws VerbsException {
        requireConnected();
        modify(QpState.INIT, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS, attr -> {
            ibv_qp_attr.port_num(attr, (byte) port);
            ibv_qp_attr.qp_access_flags(attr, accessFlags);
        });
    }

    /** INIT -> RTR for RC/UC: where the peer QP is and which PSN its first packet carries. */
    public void readyToReceive(AddressVector peer, int peerQpNumber, int peerPsn, Mtu mtu) throws VerbsException {
        requireConnected();
        int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
        if (type == QpType.RC) {
            mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
        }
        modify(QpState.RTR, mask, attr -> {
            peer.writeTo(ibv_qp_attr.ah_attr(attr));
            ibv_qp_attr.path_mtu(attr, mtu.code());
            ibv_qp_attr.dest_qp_num(attr, peerQpNumber);
            ibv_qp_attr.rq_psn(attr, peerPsn & 0xffffff);
            ibv_qp_attr.max_dest_rd_atomic(attr, (byte) RD_ATOMIC);
            ibv_qp_attr.min_rnr_timer(attr, (byte) MIN_RNR_TIMER);
        });
    }

    /** RTR -> RTS for RC/UC: {@code psn} is the first packet sequence number this side sends. */
    public void readyToSend(int psn) throws VerbsException {
        requireConnected();
        int mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
        if (type == QpType.RC) {
            mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
        }
        modify(QpState.RTS, mask, attr -> {
            ibv_qp_attr.sq_psn(attr, psn & 0xffffff);
            ibv_qp_attr.timeout(attr, (byte) ACK_TIMEOUT);
            ibv_qp_attr.retry_cnt(attr, (byte) RETRY_COUNT);
            ibv_qp_attr.rnr_retry(attr, (byte) RNR_RETRY);
            ibv_qp_attr.max_rd_atomic(attr, (byte) RD_ATOMIC);
        });
    }

    /** RESET -> INIT -> RTR -> RTS for UD, accepting datagrams that carry {@code qkey}. */
    public void activateDatagram(int port, int qkey, int psn) throws VerbsException {
        if (type != QpType.UD) {
            throw new IllegalStateException(this + " is not a UD queue pair");
        }
        modify(QpState.INIT, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY, attr -> {
            ibv_qp_attr.port_num(attr, (byte) port);
            ibv_qp_attr.qkey(attr, qkey);
        });
        modify(QpState.RTR, IBV_QP_STATE, attr -> { });
        modify(QpState.RTS, IBV_QP_STATE | IBV_QP_SQ_PSN, attr -> ibv_qp_attr.sq_psn(attr, psn & 0xffffff));
    }

    /** Moves to ERR: outstanding work requests complete with {@code IBV_WC_WR_FLUSH_ERR}. */
    public void toError() throws VerbsException {
        modify(QpState.ERR, IBV_QP_STATE, attr -> { });
    }

    /** Moves to {@code target} with the attributes {@code fill} sets, as {@code mask} says. */
    public void modify(QpState target, int mask, AttributeWriter fill) throws VerbsException {
        MemorySegment qp = handle();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment attr = ibv_qp_attr.allocate(arena);
            ibv_qp_attr.qp_state(attr, target.code());
            fill.write(attr);
            int rc = Ibverbs.ibv_modify_qp(errno, qp, attr, mask);
            if (rc != 0) {
                int e = rc > 0 ? rc : Downcalls.errno(errno);
                String from;
                try {
                    from = state().name();
                } catch (VerbsException queryFailed) {
                    from = "?";
                }
                throw new VerbsException("ibv_modify_qp(" + this + ": " + from + " -> " + target + ")", e);
            }
        }
    }

    /** Posts a chain of {@code struct ibv_send_wr} (linked through {@code next}) in one call. */
    public void postSend(MemorySegment requests) throws VerbsException {
        int rc = Glue.vs_post_send(handle(), requests, badRequest);
        if (rc != 0) {
            throw new VerbsException("ibv_post_send(" + this + ")", rc);
        }
    }

    /** Posts a chain of {@code struct ibv_recv_wr} to this QP's own receive queue (not with an SRQ). */
    public void postReceive(MemorySegment requests) throws VerbsException {
        int rc = Glue.vs_post_recv(handle(), requests, badRequest);
        if (rc != 0) {
            throw new VerbsException("ibv_post_recv(" + this + ")", rc);
        }
    }

    private void requireConnected() {
        if (type == QpType.UD) {
            throw new IllegalStateException(this + " is a UD queue pair; use activateDatagram");
        }
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_destroy_qp(" + this + ")", handle, Ibverbs::ibv_destroy_qp);
    }

    @Override
    public String toString() {
        return type + " QP 0x" + Integer.toHexString(qpNumber);
    }

    /** Sets fields of a zeroed {@code struct ibv_qp_attr}. */
    @FunctionalInterface
    public interface AttributeWriter {
        void write(MemorySegment attr);
    }
}
