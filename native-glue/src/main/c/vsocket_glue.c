/* Exported wrappers for verbs' static inline functions, and the batched poll. */
#include <arpa/inet.h>
#include "vsocket_glue.h"

int vs_glue_abi_version(void)
{
	return VS_GLUE_ABI_VERSION;
}

int vs_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr)
{
	return ibv_post_send(qp, wr, bad_wr);
}

int vs_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	return ibv_post_recv(qp, wr, bad_wr);
}

int vs_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	return ibv_post_srq_recv(srq, wr, bad_wr);
}

int vs_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc)
{
	return ibv_poll_cq(cq, num_entries, wc);
}

int vs_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	return ibv_req_notify_cq(cq, solicited_only);
}

int vs_query_port(struct ibv_context *context, uint8_t port_num, struct ibv_port_attr *port_attr)
{
	return ibv_query_port(context, port_num, port_attr);
}

int vs_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
		    struct ibv_gid_entry *entry)
{
	return ibv_query_gid_ex(context, port_num, gid_index, entry, 0);
}

struct ibv_mr *vs_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	return ibv_reg_mr(pd, addr, length, access);
}

/* Memory windows: both calls are inlines that go through the context's ops. */
struct ibv_mw *vs_alloc_mw(struct ibv_pd *pd, int type)
{
	return ibv_alloc_mw(pd, (enum ibv_mw_type)type);
}

int vs_dealloc_mw(struct ibv_mw *mw)
{
	return ibv_dealloc_mw(mw);
}

/* The next rkey of a type 2 window: its key byte moved on, so an old rkey no longer matches. */
uint32_t vs_inc_rkey(uint32_t rkey)
{
	return ibv_inc_rkey(rkey);
}

/* Polled in chunks so the full ibv_wc array stays small and on the stack. */
#define VS_POLL_CHUNK 16

int vs_poll_cq_batch(struct ibv_cq *cq, int max_entries, struct vs_completion *out)
{
	struct ibv_wc wc[VS_POLL_CHUNK];
	int total = 0;

	while (total < max_entries) {
		int want = max_entries - total;
		if (want > VS_POLL_CHUNK)
			want = VS_POLL_CHUNK;
		int n = ibv_poll_cq(cq, want, wc);
		if (n < 0)
			return total > 0 ? total : n;
		for (int i = 0; i < n; i++) {
			struct vs_completion *c = &out[total + i];
			c->wr_id = wc[i].wr_id;
			c->status = wc[i].status;
			c->opcode = wc[i].opcode;
			c->byte_len = wc[i].byte_len;
			c->imm_data = (wc[i].wc_flags & IBV_WC_WITH_IMM) ? ntohl(wc[i].imm_data) : 0;
			c->qp_num = wc[i].qp_num;
			c->src_qp = wc[i].src_qp;
			c->wc_flags = wc[i].wc_flags;
			c->vendor_err = wc[i].vendor_err;
		}
		total += n;
		if (n < want)
			break;
	}
	return total;
}

void vs_noop(void)
{
}

int64_t vs_add(int64_t a, int64_t b)
{
	return a + b;
}
