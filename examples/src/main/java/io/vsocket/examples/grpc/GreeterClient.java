package io.vsocket.examples.grpc;

import io.grpc.ManagedChannel;
import io.vsocket.grpc.VSocketGrpc;

import java.util.concurrent.TimeUnit;

/**
 * Calls the greeter over vsocket: the channel is grpc-netty's, configured by {@link VSocketGrpc}.
 *
 * <pre>
 * examples/run greeter-client [host:port] [name]     (defaults localhost:50051 and "vsocket")
 * </pre>
 */
public final class GreeterClient {
    private GreeterClient() {
    }

    /** One SayHello call on {@code channel}. */
    public static String greet(ManagedChannel channel, String name) {
        return GreeterGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .sayHello(HelloRequest.newBuilder().setName(name).build()).getMessage();
    }

    public static void main(String[] args) throws InterruptedException {
        String target = args.length > 0 ? args[0] : "localhost:50051";
        String name = args.length > 1 ? args[1] : "vsocket";
        int colon = target.lastIndexOf(':');
        ManagedChannel channel = VSocketGrpc.channel(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))
                .usePlaintext().build();
        try {
            System.out.println(greet(channel, name));
        } finally {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }
}
