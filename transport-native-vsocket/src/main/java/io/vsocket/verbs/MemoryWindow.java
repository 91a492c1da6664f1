package io.vsocket.verbs;

import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.ibv_mw;
import io.vsocket.ffm.ibverbs.ibv_send_wr;

import java.lang.foreign.MemorySegment;

import static io.vsocket.ffm.ibverbs.Ibverbs.IBV_WR_BIND_MW;

/**
 * A type 2 memory window ({@code struct ibv_mw}): remote access to part of a memory region (one
 * registered with {@code IBV_ACCESS_MW_BIND}) granted through one queue pair alone. A bind is a
 * work request on that queue pair's send queue ({@link #prepareBind}); once it completes, a peer
 * may use {@link #rkey()} on that queue pair, and on no other — a peer of another connection in the
 * same protection domain that presents it gets a remote access error.
 */
public final class MemoryWindow extends VerbsResource {
    private int rkey;

    MemoryWindow(MemorySegment mw) {
        super(mw);
        this.rkey = ibv_mw.rkey(mw.reinterpret(ibv_mw.LAYOUT.byteSize()));
    }

    /** The key the peer names the window by: after a bind prepared here, the one it grants. */
    public int rkey() {
        handle();
        return rkey;
    }

    /** The key the next bind will grant (a window's key moves on at every bind). */
    public int nextRkey() {
        handle();
        return Glue.vs_inc_rkey(rkey);
    }

    /**
     * Fills {@code wr} (zeroed by the caller, its {@code wr_id} and flags the caller's) as the bind
     * of {@code region}'s bytes {@code [address, address + length)} with {@code access}
     * ({@code IBV_ACCESS_REMOTE_WRITE}, ...), under a fresh key; post it on the queue pair the window
     * is for. Returns the key the peer will use.
     */
    public int prepareBind(MemorySegment wr, MemoryRegion region, long address, long length, int access) {
        rkey = nextRkey();
        ibv_send_wr.opcode(wr, IBV_WR_BIND_MW);
        ibv_send_wr.bind_mw_mw(wr, handle());
        ibv_send_wr.bind_mw_rkey(wr, rkey);
        ibv_send_wr.bind_mw_bind_info_mr(wr, region.handle());
        ibv_send_wr.bind_mw_bind_info_addr(wr, address);
        ibv_send_wr.bind_mw_bind_info_length(wr, length);
        ibv_send_wr.bind_mw_bind_info_mw_access_flags(wr, access);
        return rkey;
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_dealloc_mw", handle, Glue::vs_dealloc_mw);
    }

    @Override
    public String toString() {
        return "MemoryWindow(rkey 0x" + Integer.toHexString(rkey) + ")";
    }
}
