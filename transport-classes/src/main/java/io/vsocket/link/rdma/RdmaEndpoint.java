package io.vsocket.link.rdma;

import io.vsocket.verbs.Gid;

/**
 * What a peer needs to reach one side of an rdma link: its RoCE GID and GID index, its RC queue
 * pair number and first packet sequence number, its receive ring (address, rkey, size), the
 * only memory it lets the peer write, and its port's active MTU in bytes (the path takes the
 * smaller of the two).
 */
public record RdmaEndpoint(Gid gid, int gidIndex, int qpNumber, int psn, long ringAddress, int rkey, int ringSize,
                           int mtu) {
}
