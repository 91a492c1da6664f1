package io.vsocket.link.rdma;

import io.netty.buffer.ByteBuf;
import io.vsocket.link.HelloPart;
import io.vsocket.link.HelloPartException;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.Mtu;

/**
 * What a peer needs to reach one side of an rdma link: its RoCE GID and GID index, its RC queue
 * pair number and first packet sequence number, its receive ring (address, rkey, size), the
 * only memory it lets the peer write, and its port's active MTU in bytes (the path takes the
 * smaller of the two).
 *
 * <pre>
 * gid[16] gidIndex:u8 qpn:u32 psn:u32 ringAddress:u64 rkey:u32 ringSize:u32 mtu:u16   (big-endian)
 * </pre>
 */
public record RdmaEndpoint(Gid gid, int gidIndex, int qpNumber, int psn, long ringAddress, int rkey, int ringSize,
                           int mtu) {
    /** The encoded length. */
    public static final int BYTES = Gid.BYTES + 1 + 4 + 4 + 8 + 4 + 4 + 2;

    public void write(ByteBuf out) {
        out.writeBytes(gid.toByteArray());
        out.writeByte(gidIndex);
        out.writeInt(qpNumber);
        out.writeInt(psn);
        out.writeLong(ringAddress);
        out.writeInt(rkey);
        out.writeInt(ringSize);
        out.writeShort(mtu);
    }

    /** Reads one endpoint off {@code in}; throws for too few bytes or an MTU no port has. */
    public static RdmaEndpoint read(ByteBuf in) throws HelloPartException {
        HelloPart.require(in, BYTES, "an rdma endpoint");
        byte[] gid = new byte[Gid.BYTES];
        in.readBytes(gid);
        RdmaEndpoint endpoint = new RdmaEndpoint(Gid.of(gid), in.readUnsignedByte(), in.readInt(), in.readInt(),
                in.readLong(), in.readInt(), in.readInt(), in.readUnsignedShort());
        try {
            Mtu.ofBytes(endpoint.mtu());
        } catch (IllegalArgumentException e) {
            throw new HelloPartException("the rdma endpoint has an impossible MTU: " + endpoint.mtu());
        }
        return endpoint;
    }
}
