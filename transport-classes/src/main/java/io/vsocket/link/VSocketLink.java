package io.vsocket.link;

/** The data paths a vsocket stream can travel on, best first. */
public enum VSocketLink {
    /** Shared memory between processes on one host. */
    SHM,
    /** An RDMA RC queue pair. */
    RDMA,
    /** The TCP connection itself: always possible, the fallback. */
    TCP
}
