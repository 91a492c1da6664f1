package io.vsocket.grpc;

import com.google.protobuf.ByteString;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.vsocket.grpc.test.Chunk;
import io.vsocket.grpc.test.ExchangeGrpc;
import io.vsocket.grpc.test.StreamRequest;
import io.vsocket.grpc.test.Summary;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.zip.CRC32;

/** The test service: the generated {@code Exchange} base class, answering as exchange.proto says. */
final class ExchangeService extends ExchangeGrpc.ExchangeImplBase {
    /** Calls the server saw cancelled (Hang by a deadline or a client, Produce by a client), with how far they got. */
    final BlockingQueue<String> cancellations = new LinkedBlockingQueue<>();

    @Override
    public void echo(Chunk request, StreamObserver<Chunk> response) {
        response.onNext(request.toBuilder().setSeq(request.getSeq() + 1).build());
        response.onCompleted();
    }

    /** Produces as fast as the client takes (onReady), so a cancelled stream stops where it was. */
    @Override
    public void produce(StreamRequest request, StreamObserver<Chunk> response) {
        ServerCallStreamObserver<Chunk> call = (ServerCallStreamObserver<Chunk>) response;
        int[] next = {0};
        boolean[] done = {false};
        call.setOnCancelHandler(() -> cancellations.add("produce:" + next[0]));
        // onReady and onCancel run serialized on the call's executor, so the arrays need no locking.
        call.setOnReadyHandler(() -> {
            while (!done[0] && call.isReady() && !call.isCancelled() && next[0] < request.getCount()) {
                call.onNext(chunk(next[0], request.getSize()));
                next[0]++;
            }
            if (!done[0] && next[0] == request.getCount()) {
                done[0] = true;
                call.onCompleted();
            }
        });
    }

    @Override
    public StreamObserver<Chunk> collect(StreamObserver<Summary> response) {
        return new StreamObserver<>() {
            long count;
            long bytes;
            final CRC32 crc = new CRC32();

            @Override
            public void onNext(Chunk chunk) {
                count++;
                bytes += chunk.getData().size();
                crc.update(chunk.getData().asReadOnlyByteBuffer());
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
                response.onNext(Summary.newBuilder().setCount(count).setBytes(bytes).setCrc(crc.getValue()).build());
                response.onCompleted();
            }
        };
    }

    @Override
    public StreamObserver<Chunk> chat(StreamObserver<Chunk> response) {
        return new StreamObserver<>() {
            @Override
            public void onNext(Chunk chunk) {
                response.onNext(chunk.toBuilder().setSeq(chunk.getSeq() + 1).build());
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
                response.onCompleted();
            }
        };
    }

    @Override
    public void hang(Chunk request, StreamObserver<Chunk> response) {
        ((ServerCallStreamObserver<Chunk>) response).setOnCancelHandler(
                () -> cancellations.add("hang:" + request.getSeq()));
    }

    /** Chunk {@code seq} of a stream: {@code size} bytes that depend on both, so misplaced bytes show. */
    static Chunk chunk(long seq, int size) {
        return Chunk.newBuilder().setSeq(seq).setData(ByteString.copyFrom(pattern(seq, size))).build();
    }

    static byte[] pattern(long seq, int size) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (i * 31 + seq * 7 + (i >>> 10));
        }
        return b;
    }
}
