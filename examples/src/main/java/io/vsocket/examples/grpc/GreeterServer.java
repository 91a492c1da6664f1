package io.vsocket.examples.grpc;

import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import io.vsocket.grpc.VSocketGrpc;

import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * gRPC's greeter on vsocket: the server is grpc-netty's, configured by {@link VSocketGrpc} in one call.
 *
 * <pre>
 * examples/run greeter-server [port]      (default 50051)
 * </pre>
 */
public final class GreeterServer {
    private GreeterServer() {
    }

    /** The service: "Hello, NAME". */
    static final class Greeter extends GreeterGrpc.GreeterImplBase {
        @Override
        public void sayHello(HelloRequest request, StreamObserver<HelloReply> response) {
            response.onNext(HelloReply.newBuilder().setMessage("Hello, " + request.getName()).build());
            response.onCompleted();
        }
    }

    /** A started server on {@code address} (port 0: any free one; {@code Server.getPort()} says which). */
    public static Server start(InetSocketAddress address) throws IOException {
        return VSocketGrpc.server(address).addService(new Greeter()).build().start();
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 50051;
        Server server = start(new InetSocketAddress(port));
        System.out.println("vsocket gRPC greeter on port " + server.getPort() + " (Ctrl-C stops it)");
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
        server.awaitTermination();
    }
}
