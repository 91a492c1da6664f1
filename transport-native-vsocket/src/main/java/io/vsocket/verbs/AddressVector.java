package io.vsocket.verbs;

import io.vsocket.ffm.ibverbs.ibv_ah_attr;
import io.vsocket.ffm.ibverbs.ibv_global_route;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Where a queue pair sends to ({@code struct ibv_ah_attr}): on RoCE always a global route to
 * {@code destinationGid}, leaving through local port {@code port} with source GID
 * {@code sourceGidIndex}. {@code lid} matters only on InfiniBand.
 */
public record AddressVector(Gid destinationGid, int sourceGidIndex, int port, int hopLimit, int lid) {

    /** A RoCE destination: GRH always present, hop limit 64. */
    public static AddressVector roce(Gid destinationGid, int sourceGidIndex, int port) {
        return new AddressVector(destinationGid, sourceGidIndex, port, 64, 0);
    }

    /** Fills an {@code ibv_ah_attr} (which must be zeroed). */
    public void writeTo(MemorySegment ahAttr) {
        MemorySegment grh = ibv_ah_attr.grh(ahAttr);
        MemorySegment.copy(destinationGid.toByteArray(), 0, ibv_global_route.dgid(grh), JAVA_BYTE, 0, Gid.BYTES);
        ibv_global_route.sgid_index(grh, (byte) sourceGidIndex);
        ibv_global_route.hop_limit(grh, (byte) hopLimit);
        ibv_ah_attr.is_global(ahAttr, (byte) 1);
        ibv_ah_attr.dlid(ahAttr, (short) lid);
        ibv_ah_attr.port_num(ahAttr, (byte) port);
    }
}
