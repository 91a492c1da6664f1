package io.vsocket.verbs;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_device_attr;
import io.vsocket.ffm.ibverbs.ibv_gid_entry;
import io.vsocket.ffm.ibverbs.ibv_port_attr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * An open RDMA device: the owner of one {@code struct ibv_context}. Open one with
 * {@link Verbs#openDevice(String)}; close it after everything made from it.
 */
public final class VerbsDevice extends VerbsResource {
    /** {@code ibv_query_gid_ex} reports an unused GID table slot with ENODATA. */
    private static final int ENODATA = 61;

    private final String name;
    private final long guid;

    VerbsDevice(MemorySegment context, String name, long guid) {
        super(context);
        this.name = name;
        this.guid = guid;
    }

    public String name() {
        return name;
    }

    /** The node GUID in host byte order. */
    public long guid() {
        return guid;
    }

    public DeviceAttributes queryDevice() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment a = ibv_device_attr.allocate(arena);
            VerbsException.check("ibv_query_device(" + name + ")", Ibverbs.ibv_query_device(errno, handle(), a), errno);
            String fw = ibv_device_attr.fw_ver(a).getString(0);
            return new DeviceAttributes(fw,
                    Long.reverseBytes(ibv_device_attr.node_guid(a)), Long.reverseBytes(ibv_device_attr.sys_image_guid(a)),
                    ibv_device_attr.vendor_id(a), ibv_device_attr.vendor_part_id(a), ibv_device_attr.hw_ver(a),
                    Byte.toUnsignedInt(ibv_device_attr.phys_port_cnt(a)), ibv_device_attr.max_mr_size(a),
                    ibv_device_attr.max_qp(a), ibv_device_attr.max_qp_wr(a), ibv_device_attr.max_sge(a),
                    ibv_device_attr.max_cq(a), ibv_device_attr.max_cqe(a), ibv_device_attr.max_mr(a),
                    ibv_device_attr.max_pd(a), ibv_device_attr.max_srq(a), ibv_device_attr.max_srq_wr(a),
                    ibv_device_attr.max_srq_sge(a), ibv_device_attr.max_ah(a), ibv_device_attr.max_qp_rd_atom(a),
                    ibv_device_attr.device_cap_flags(a));
        }
    }

    /** Queries port {@code port} (ports count from 1). */
    public PortAttributes queryPort(int port) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment p = ibv_port_attr.allocate(arena);
            VerbsException.check("ibv_query_port(" + name + ", " + port + ")",
                    Glue.vs_query_port(errno, handle(), (byte) port, p), errno);
            return new PortAttributes(port, PortState.ofCode(ibv_port_attr.state(p)),
                    Mtu.ofCode(ibv_port_attr.max_mtu(p)), Mtu.ofCode(ibv_port_attr.active_mtu(p)),
                    ibv_port_attr.gid_tbl_len(p), Short.toUnsignedInt(ibv_port_attr.lid(p)),
                    Byte.toUnsignedInt(ibv_port_attr.link_layer(p)), ibv_port_attr.port_cap_flags(p),
                    Integer.toUnsignedLong(ibv_port_attr.max_msg_sz(p)),
                    Byte.toUnsignedInt(ibv_port_attr.active_width(p)), Byte.toUnsignedInt(ibv_port_attr.active_speed(p)),
                    Byte.toUnsignedInt(ibv_port_attr.phys_state(p)));
        }
    }

    /**
     * The GID table entry at {@code index} of {@code port}, or null when that slot is unused.
     */
    public GidEntry queryGid(int port, int index) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment e = ibv_gid_entry.allocate(arena);
            int rc = Glue.vs_query_gid_ex(errno, handle(), port, index, e);
            int err = rc > 0 ? rc : rc < 0 ? Downcalls.errno(errno) : 0;
            if (err == ENODATA) {
                return null;
            }
            VerbsException.check("ibv_query_gid_ex(" + name + ", port " + port + ", index " + index + ")", err, errno);
            Gid gid = Gid.of(ibv_gid_entry.gid(e).toArray(JAVA_BYTE));
            if (gid.isZero()) {
                return null;
            }
            return new GidEntry(ibv_gid_entry.port_num(e), ibv_gid_entry.gid_index(e), gid,
                    ibv_gid_entry.gid_type(e), ibv_gid_entry.ndev_ifindex(e));
        }
    }

    /** The used entries of the GID table of {@code port}. */
    public List<GidEntry> gidTable(int port) throws VerbsException {
        int length = queryPort(port).gidTableLength();
        List<GidEntry> entries = new ArrayList<>();
        for (int i = 0; i < length; i++) {
            GidEntry entry = queryGid(port, i);
            if (entry != null) {
                entries.add(entry);
            }
        }
        return entries;
    }

    public ProtectionDomain allocateProtectionDomain() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment pd = VerbsException.checkPointer("ibv_alloc_pd(" + name + ")",
                    Ibverbs.ibv_alloc_pd(errno, handle()), errno);
            return new ProtectionDomain(pd, this);
        }
    }

    public CompletionChannel createCompletionChannel() throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment channel = VerbsException.checkPointer("ibv_create_comp_channel(" + name + ")",
                    Ibverbs.ibv_create_comp_channel(errno, handle()), errno);
            return new CompletionChannel(channel);
        }
    }

    /**
     * Creates a completion queue of at least {@code capacity} entries, reporting to {@code channel}
     * when one is given (null: poll only).
     */
    public CompletionQueue createCompletionQueue(int capacity, CompletionChannel channel) throws VerbsException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = Downcalls.newErrnoState(arena);
            MemorySegment channelHandle = channel == null ? MemorySegment.NULL : channel.handle();
            MemorySegment cq = VerbsException.checkPointer("ibv_create_cq(" + name + ", " + capacity + ")",
                    Ibverbs.ibv_create_cq(errno, handle(), capacity, MemorySegment.NULL, channelHandle, 0), errno);
            CompletionQueue queue = new CompletionQueue(cq, channel);
            if (channel != null) {
                channel.attach(queue);
            }
            return queue;
        }
    }

    @Override
    void release(MemorySegment handle) throws VerbsException {
        destroy("ibv_close_device(" + name + ")", handle, Ibverbs::ibv_close_device);
    }

    @Override
    public String toString() {
        return "VerbsDevice(" + name + ")";
    }
}
