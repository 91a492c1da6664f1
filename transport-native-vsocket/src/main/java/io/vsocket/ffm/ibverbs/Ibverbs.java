package io.vsocket.ffm.ibverbs;

import io.vsocket.ffm.Downcalls;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.ref.Reference;


/**
 * Downcall handles into libibverbs ({@code libibverbs.so.1}), one static method per C function in
 * jextract's shape, and the enum and flag constants vsocket uses (proven against the installed
 * headers by the layout probe). Calls that fail through {@code errno} take a leading errno-state
 * segment ({@link Downcalls#newErrnoState}); libibverbs also returns the errno value itself from
 * most {@code int} calls.
 *
 * <p>Loading this class opens the library: check {@code Verbs.isAvailable()} first.
 * The {@code static inline} verbs ({@code ibv_post_send}, {@code ibv_poll_cq}, ...) are in
 * {@link io.vsocket.ffm.glue.Glue}.
 */
public final class Ibverbs {
    private Ibverbs() {
    }

    /** The shared object this class binds, by its soname. */
    public static final String LIBRARY = "libibverbs.so.1";
    private static final SymbolLookup LOOKUP = IbverbsDeviceList.LOOKUP; // (the library, opened once)

    public static final int IBV_PORT_NOP = 0;
    public static final int IBV_PORT_DOWN = 1;
    public static final int IBV_PORT_INIT = 2;
    public static final int IBV_PORT_ARMED = 3;
    public static final int IBV_PORT_ACTIVE = 4;
    public static final int IBV_PORT_ACTIVE_DEFER = 5;
    public static final int IBV_MTU_256 = 1;
    public static final int IBV_MTU_512 = 2;
    public static final int IBV_MTU_1024 = 3;
    public static final int IBV_MTU_2048 = 4;
    public static final int IBV_MTU_4096 = 5;
    public static final int IBV_LINK_LAYER_UNSPECIFIED = 0;
    public static final int IBV_LINK_LAYER_INFINIBAND = 1;
    public static final int IBV_LINK_LAYER_ETHERNET = 2;
    public static final int IBV_GID_TYPE_IB = 0;
    public static final int IBV_GID_TYPE_ROCE_V1 = 1;
    public static final int IBV_GID_TYPE_ROCE_V2 = 2;
    public static final int IBV_ACCESS_LOCAL_WRITE = 1;
    public static final int IBV_ACCESS_REMOTE_WRITE = 2;
    public static final int IBV_ACCESS_REMOTE_READ = 4;
    public static final int IBV_ACCESS_REMOTE_ATOMIC = 8;
    public static final int IBV_ACCESS_MW_BIND = 16;
    public static final int IBV_MW_TYPE_1 = 1;
    public static final int IBV_MW_TYPE_2 = 2;
    public static final int IBV_QPT_RC = 2;
    public static final int IBV_QPT_UC = 3;
    public static final int IBV_QPT_UD = 4;
    public static final int IBV_QPS_RESET = 0;
    public static final int IBV_QPS_INIT = 1;
    public static final int IBV_QPS_RTR = 2;
    public static final int IBV_QPS_RTS = 3;
    public static final int IBV_QPS_SQD = 4;
    public static final int IBV_QPS_SQE = 5;
    public static final int IBV_QPS_ERR = 6;
    public static final int IBV_MIG_MIGRATED = 0;
    public static final int IBV_QP_STATE = 1;
    public static final int IBV_QP_CUR_STATE = 2;
    public static final int IBV_QP_EN_SQD_ASYNC_NOTIFY = 4;
    public static final int IBV_QP_ACCESS_FLAGS = 8;
    public static final int IBV_QP_PKEY_INDEX = 16;
    public static final int IBV_QP_PORT = 32;
    public static final int IBV_QP_QKEY = 64;
    public static final int IBV_QP_AV = 128;
    public static final int IBV_QP_PATH_MTU = 256;
    public static final int IBV_QP_TIMEOUT = 512;
    public static final int IBV_QP_RETRY_CNT = 1024;
    public static final int IBV_QP_RNR_RETRY = 2048;
    public static final int IBV_QP_RQ_PSN = 4096;
    public static final int IBV_QP_MAX_QP_RD_ATOMIC = 8192;
    public static final int IBV_QP_ALT_PATH = 16384;
    public static final int IBV_QP_MIN_RNR_TIMER = 32768;
    public static final int IBV_QP_SQ_PSN = 65536;
    public static final int IBV_QP_MAX_DEST_RD_ATOMIC = 131072;
    public static final int IBV_QP_PATH_MIG_STATE = 262144;
    public static final int IBV_QP_CAP = 524288;
    public static final int IBV_QP_DEST_QPN = 1048576;
    public static final int IBV_WR_RDMA_WRITE = 0;
    public static final int IBV_WR_RDMA_WRITE_WITH_IMM = 1;
    public static final int IBV_WR_SEND = 2;
    public static final int IBV_WR_SEND_WITH_IMM = 3;
    public static final int IBV_WR_RDMA_READ = 4;
    public static final int IBV_WR_BIND_MW = 8;
    public static final int IBV_SEND_FENCE = 1;
    public static final int IBV_SEND_SIGNALED = 2;
    public static final int IBV_SEND_SOLICITED = 4;
    public static final int IBV_SEND_INLINE = 8;
    public static final int IBV_WC_SEND = 0;
    public static final int IBV_WC_RDMA_WRITE = 1;
    public static final int IBV_WC_RDMA_READ = 2;
    public static final int IBV_WC_RECV = 128;
    public static final int IBV_WC_RECV_RDMA_WITH_IMM = 129;
    public static final int IBV_WC_BIND_MW = 5;
    public static final int IBV_WC_GRH = 1;
    public static final int IBV_WC_WITH_IMM = 2;

    /**
     * Links every binding of this class now (loading it does): {@code Verbs}' probe calls it once a device is
     * found, so that a libibverbs without one of them is reported there, not at the call. A machine without a
     * device never links these (see {@link IbverbsDeviceList}).
     */
    public static void link() {
        // (the class's initialisation is the work)
    }

    private static final MethodHandle IBV_GET_DEVICE_GUID = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_get_device_guid", 1, false);

    /** {@code __be64 ibv_get_device_guid(struct ibv_device *device)}. */
    public static long ibv_get_device_guid(MemorySegment device) {
        try {
            return (long) IBV_GET_DEVICE_GUID.invokeExact(Downcalls.address(device));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(device);
        }
    }

    private static final MethodHandle IBV_OPEN_DEVICE = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_open_device", 1, true);

    /** {@code struct ibv_context *ibv_open_device(struct ibv_device *device)}. */
    public static MemorySegment ibv_open_device(MemorySegment errno, MemorySegment device) {
        try {
            return MemorySegment.ofAddress((long) IBV_OPEN_DEVICE.invokeExact(errno, Downcalls.address(device)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(device);
        }
    }

    private static final MethodHandle IBV_CLOSE_DEVICE = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_close_device", 1, true);

    /** {@code int ibv_close_device(struct ibv_context *context)}. */
    public static int ibv_close_device(MemorySegment errno, MemorySegment context) {
        try {
            return (int) (long) IBV_CLOSE_DEVICE.invokeExact(errno, Downcalls.address(context));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
        }
    }

    private static final MethodHandle IBV_QUERY_DEVICE = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_query_device", 2, true);

    /** {@code int ibv_query_device(struct ibv_context *, struct ibv_device_attr *)}. */
    public static int ibv_query_device(MemorySegment errno, MemorySegment context, MemorySegment deviceAttr) {
        try {
            return (int) (long) IBV_QUERY_DEVICE.invokeExact(errno, Downcalls.address(context), Downcalls.address(deviceAttr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
            Reference.reachabilityFence(deviceAttr);
        }
    }

    private static final MethodHandle IBV_QUERY_GID = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_query_gid", 4, true);

    /** {@code int ibv_query_gid(struct ibv_context *, uint8_t port_num, int index, union ibv_gid *gid)}. */
    public static int ibv_query_gid(MemorySegment errno, MemorySegment context, byte portNum, int index, MemorySegment gid) {
        try {
            return (int) (long) IBV_QUERY_GID.invokeExact(errno, Downcalls.address(context), (long) portNum, (long) index, Downcalls.address(gid));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
            Reference.reachabilityFence(gid);
        }
    }

    private static final MethodHandle IBV_ALLOC_PD = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_alloc_pd", 1, true);

    /** {@code struct ibv_pd *ibv_alloc_pd(struct ibv_context *context)}. */
    public static MemorySegment ibv_alloc_pd(MemorySegment errno, MemorySegment context) {
        try {
            return MemorySegment.ofAddress((long) IBV_ALLOC_PD.invokeExact(errno, Downcalls.address(context)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
        }
    }

    private static final MethodHandle IBV_DEALLOC_PD = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_dealloc_pd", 1, true);

    /** {@code int ibv_dealloc_pd(struct ibv_pd *pd)}. */
    public static int ibv_dealloc_pd(MemorySegment errno, MemorySegment pd) {
        try {
            return (int) (long) IBV_DEALLOC_PD.invokeExact(errno, Downcalls.address(pd));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
        }
    }

    private static final MethodHandle IBV_DEREG_MR = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_dereg_mr", 1, true);

    /** {@code int ibv_dereg_mr(struct ibv_mr *mr)}. */
    public static int ibv_dereg_mr(MemorySegment errno, MemorySegment mr) {
        try {
            return (int) (long) IBV_DEREG_MR.invokeExact(errno, Downcalls.address(mr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(mr);
        }
    }

    private static final MethodHandle IBV_CREATE_COMP_CHANNEL = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_create_comp_channel", 1, true);

    /** {@code struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context)}. */
    public static MemorySegment ibv_create_comp_channel(MemorySegment errno, MemorySegment context) {
        try {
            return MemorySegment.ofAddress((long) IBV_CREATE_COMP_CHANNEL.invokeExact(errno, Downcalls.address(context)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
        }
    }

    private static final MethodHandle IBV_DESTROY_COMP_CHANNEL = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_destroy_comp_channel", 1, true);

    /** {@code int ibv_destroy_comp_channel(struct ibv_comp_channel *channel)}. */
    public static int ibv_destroy_comp_channel(MemorySegment errno, MemorySegment channel) {
        try {
            return (int) (long) IBV_DESTROY_COMP_CHANNEL.invokeExact(errno, Downcalls.address(channel));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(channel);
        }
    }

    private static final MethodHandle IBV_CREATE_CQ = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_create_cq", 5, true);

    /** {@code struct ibv_cq *ibv_create_cq(struct ibv_context *, int cqe, void *cq_context, struct ibv_comp_channel *, int comp_vector)}. */
    public static MemorySegment ibv_create_cq(MemorySegment errno, MemorySegment context, int cqe, MemorySegment cqContext, MemorySegment channel, int compVector) {
        try {
            return MemorySegment.ofAddress((long) IBV_CREATE_CQ.invokeExact(errno, Downcalls.address(context), (long) cqe, Downcalls.address(cqContext), Downcalls.address(channel), (long) compVector));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(context);
            Reference.reachabilityFence(cqContext);
            Reference.reachabilityFence(channel);
        }
    }

    private static final MethodHandle IBV_DESTROY_CQ = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_destroy_cq", 1, true);

    /** {@code int ibv_destroy_cq(struct ibv_cq *cq)}. */
    public static int ibv_destroy_cq(MemorySegment errno, MemorySegment cq) {
        try {
            return (int) (long) IBV_DESTROY_CQ.invokeExact(errno, Downcalls.address(cq));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(cq);
        }
    }

    private static final MethodHandle IBV_GET_CQ_EVENT = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_get_cq_event", 3, true);

    /** {@code int ibv_get_cq_event(struct ibv_comp_channel *, struct ibv_cq **cq, void **cq_context)}; blocks unless the channel fd is non-blocking. */
    public static int ibv_get_cq_event(MemorySegment errno, MemorySegment channel, MemorySegment cqOut, MemorySegment cqContextOut) {
        try {
            return (int) (long) IBV_GET_CQ_EVENT.invokeExact(errno, Downcalls.address(channel), Downcalls.address(cqOut), Downcalls.address(cqContextOut));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(channel);
            Reference.reachabilityFence(cqOut);
            Reference.reachabilityFence(cqContextOut);
        }
    }

    private static final MethodHandle IBV_ACK_CQ_EVENTS = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_ack_cq_events", 2, false);

    /** {@code void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)}. */
    public static void ibv_ack_cq_events(MemorySegment cq, int nevents) {
        try {
            long ignored = (long) IBV_ACK_CQ_EVENTS.invokeExact(Downcalls.address(cq), (long) nevents);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(cq);
        }
    }

    private static final MethodHandle IBV_CREATE_SRQ = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_create_srq", 2, true);

    /** {@code struct ibv_srq *ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *srq_init_attr)}. */
    public static MemorySegment ibv_create_srq(MemorySegment errno, MemorySegment pd, MemorySegment srqInitAttr) {
        try {
            return MemorySegment.ofAddress((long) IBV_CREATE_SRQ.invokeExact(errno, Downcalls.address(pd), Downcalls.address(srqInitAttr)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
            Reference.reachabilityFence(srqInitAttr);
        }
    }

    private static final MethodHandle IBV_DESTROY_SRQ = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_destroy_srq", 1, true);

    /** {@code int ibv_destroy_srq(struct ibv_srq *srq)}. */
    public static int ibv_destroy_srq(MemorySegment errno, MemorySegment srq) {
        try {
            return (int) (long) IBV_DESTROY_SRQ.invokeExact(errno, Downcalls.address(srq));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(srq);
        }
    }

    private static final MethodHandle IBV_CREATE_QP = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_create_qp", 2, true);

    /** {@code struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr)}. */
    public static MemorySegment ibv_create_qp(MemorySegment errno, MemorySegment pd, MemorySegment qpInitAttr) {
        try {
            return MemorySegment.ofAddress((long) IBV_CREATE_QP.invokeExact(errno, Downcalls.address(pd), Downcalls.address(qpInitAttr)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
            Reference.reachabilityFence(qpInitAttr);
        }
    }

    private static final MethodHandle IBV_MODIFY_QP = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_modify_qp", 3, true);

    /** {@code int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)}. */
    public static int ibv_modify_qp(MemorySegment errno, MemorySegment qp, MemorySegment attr, int attrMask) {
        try {
            return (int) (long) IBV_MODIFY_QP.invokeExact(errno, Downcalls.address(qp), Downcalls.address(attr), (long) attrMask);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(qp);
            Reference.reachabilityFence(attr);
        }
    }

    private static final MethodHandle IBV_QUERY_QP = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_query_qp", 4, true);

    /** {@code int ibv_query_qp(struct ibv_qp *, struct ibv_qp_attr *, int attr_mask, struct ibv_qp_init_attr *)}. */
    public static int ibv_query_qp(MemorySegment errno, MemorySegment qp, MemorySegment attr, int attrMask, MemorySegment initAttr) {
        try {
            return (int) (long) IBV_QUERY_QP.invokeExact(errno, Downcalls.address(qp), Downcalls.address(attr), (long) attrMask, Downcalls.address(initAttr));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(qp);
            Reference.reachabilityFence(attr);
            Reference.reachabilityFence(initAttr);
        }
    }

    private static final MethodHandle IBV_DESTROY_QP = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_destroy_qp", 1, true);

    /** {@code int ibv_destroy_qp(struct ibv_qp *qp)}. */
    public static int ibv_destroy_qp(MemorySegment errno, MemorySegment qp) {
        try {
            return (int) (long) IBV_DESTROY_QP.invokeExact(errno, Downcalls.address(qp));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(qp);
        }
    }

    private static final MethodHandle IBV_CREATE_AH = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_create_ah", 2, true);

    /** {@code struct ibv_ah *ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)}. */
    public static MemorySegment ibv_create_ah(MemorySegment errno, MemorySegment pd, MemorySegment ahAttr) {
        try {
            return MemorySegment.ofAddress((long) IBV_CREATE_AH.invokeExact(errno, Downcalls.address(pd), Downcalls.address(ahAttr)));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(pd);
            Reference.reachabilityFence(ahAttr);
        }
    }

    private static final MethodHandle IBV_DESTROY_AH = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_destroy_ah", 1, true);

    /** {@code int ibv_destroy_ah(struct ibv_ah *ah)}. */
    public static int ibv_destroy_ah(MemorySegment errno, MemorySegment ah) {
        try {
            return (int) (long) IBV_DESTROY_AH.invokeExact(errno, Downcalls.address(ah));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        } finally {
            Reference.reachabilityFence(ah);
        }
    }

    private static final MethodHandle IBV_WC_STATUS_STR = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_wc_status_str", 1, false);

    /** {@code const char *ibv_wc_status_str(enum ibv_wc_status status)}. */
    public static MemorySegment ibv_wc_status_str(int status) {
        try {
            return MemorySegment.ofAddress((long) IBV_WC_STATUS_STR.invokeExact((long) status));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    private static final MethodHandle IBV_PORT_STATE_STR = Downcalls.wordCall(LOOKUP, LIBRARY, "ibv_port_state_str", 1, false);

    /** {@code const char *ibv_port_state_str(enum ibv_port_state port_state)}. */
    public static MemorySegment ibv_port_state_str(int portState) {
        try {
            return MemorySegment.ofAddress((long) IBV_PORT_STATE_STR.invokeExact((long) portState));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
