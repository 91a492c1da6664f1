package io.vsocket.examples.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.vsocket.grpc.VSocketGrpc;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The greeter example's server and client code, on vsocket, in one process. */
class GreeterTest {
    @Test
    void theClientIsGreetedByTheServer() throws Exception {
        Server server = GreeterServer.start(new InetSocketAddress("127.0.0.1", 0));
        ManagedChannel channel = VSocketGrpc.channel("127.0.0.1", server.getPort()).usePlaintext().build();
        try {
            assertEquals("Hello, vsocket", GreeterClient.greet(channel, "vsocket"));
            for (int i = 0; i < 50; i++) {
                assertEquals("Hello, caller " + i, GreeterClient.greet(channel, "caller " + i));
            }
        } finally {
            channel.shutdownNow().awaitTermination(30, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(30, TimeUnit.SECONDS);
        }
    }
}
