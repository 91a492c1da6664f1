package io.vsocket.link.shm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Who may share memory with whom: two processes with the same boot id, network namespace and user
 * can use the shm link. The boot id tells hosts (and reboots) apart; the namespace matters because
 * the rendezvous socket lives in the abstract namespace, which is per network namespace.
 */
public final class HostIdentity {
    private HostIdentity() {
    }

    private static final String LOCAL = read();

    /** {@code bootId/netns/uid}, or an empty string when it cannot be read (shm is then not offered). */
    public static String local() {
        return LOCAL;
    }

    private static String read() {
        try {
            String bootId = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
            String netns = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
            Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            return bootId + "/" + netns + "/" + uid;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return "";
        }
    }
}
