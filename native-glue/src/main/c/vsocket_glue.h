/*
 * vsocket native glue: exported symbols for the verbs calls that <infiniband/verbs.h> only has as
 * static inline functions or macros, a batched completion poll, and a layout probe.
 * Java reaches every function here through Panama FFM downcalls (io.vsocket.ffm.glue.Glue).
 */
#ifndef VSOCKET_GLUE_H
#define VSOCKET_GLUE_H

#include <stdint.h>
#include <infiniband/verbs.h>

#define VS_EXPORT __attribute__((visibility("default")))

/* Bumped whenever a signature or struct below changes; the Java side checks it at load. */
#define VS_GLUE_ABI_VERSION 2

/*
 * One completion in the compact form the event loop consumes: only the fields it reads, with
 * the immediate already in host byte order. 40 bytes instead of ibv_wc's 48, no holes.
 */
struct vs_completion {
	uint64_t wr_id;
	uint32_t status;     /* enum ibv_wc_status */
	uint32_t opcode;     /* enum ibv_wc_opcode */
	uint32_t byte_len;
	uint32_t imm_data;   /* host byte order; valid when wc_flags & IBV_WC_WITH_IMM */
	uint32_t qp_num;
	uint32_t src_qp;
	uint32_t wc_flags;
	uint32_t vendor_err;
};

/* One row of the layout probe: "struct" (its sizeof), "struct.field.sub" (offsetof) or
 * "#CONSTANT" (the value of an enum or macro constant the Java side uses). */
struct vs_layout_entry {
	const char *name;
	int64_t value;
};

VS_EXPORT int vs_glue_abi_version(void);

VS_EXPORT int vs_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
VS_EXPORT int vs_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
VS_EXPORT int vs_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
VS_EXPORT int vs_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
VS_EXPORT int vs_req_notify_cq(struct ibv_cq *cq, int solicited_only);
VS_EXPORT int vs_query_port(struct ibv_context *context, uint8_t port_num, struct ibv_port_attr *port_attr);
VS_EXPORT int vs_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
			      struct ibv_gid_entry *entry);
VS_EXPORT struct ibv_mr *vs_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access);
VS_EXPORT struct ibv_mw *vs_alloc_mw(struct ibv_pd *pd, int type);
VS_EXPORT int vs_dealloc_mw(struct ibv_mw *mw);
VS_EXPORT uint32_t vs_inc_rkey(uint32_t rkey);

/*
 * Polls up to max_entries completions into out (compact form). Returns the number polled, 0 when
 * the CQ is empty, or a negative value when ibv_poll_cq failed.
 */
VS_EXPORT int vs_poll_cq_batch(struct ibv_cq *cq, int max_entries, struct vs_completion *out);

/* Stores the probe table in *entries and returns its length. The table is static. */
VS_EXPORT int vs_layout_probe(const struct vs_layout_entry **entries);

/* Does nothing; the JMH benchmark uses it to measure the bare cost of a downcall. */
VS_EXPORT void vs_noop(void);
VS_EXPORT int64_t vs_add(int64_t a, int64_t b);

#endif
