package io.vsocket.link.shm;

import io.vsocket.unix.Doorbell;
import io.vsocket.unix.FileDescriptors;

/**
 * Both sides of one shm link in this process, made as a set-up makes them: the client's offered
 * memory, and a socket pair standing for the connection it goes on (the client's end and the one the
 * server accepted), which is each side's doorbell.
 */
public final class InProcessShm {
    private InProcessShm() {
    }

    public record Sides(ShmLink client, ShmLink server) {
    }

    /** What a test does with the offer's memfd before this side's copy is closed (a spy maps it). */
    @FunctionalInterface
    public interface MemFdUse {
        void accept(int memFd) throws Exception;
    }

    public static Sides connect(int clientRing, int serverRing) throws Exception {
        return connect(clientRing, serverRing, memFd -> { });
    }

    public static Sides connect(int clientRing, int serverRing, MemFdUse memFdUse) throws Exception {
        try (ShmLink.Offer offer = ShmLink.offer(clientRing, serverRing)) {
            memFdUse.accept(offer.memFd());
            Doorbell.Pair connection = Doorbell.pair();
            ShmLink client = offer.link(connection.first());
            try {
                // (attach owns what it is given, failing or not)
                return new Sides(client, ShmLink.attach(FileDescriptors.duplicate(offer.memFd()), connection.second(),
                        clientRing, serverRing));
            } catch (Exception | Error e) {
                client.close();
                throw e;
            }
        }
    }
}
