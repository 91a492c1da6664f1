package io.vsocket.examples.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.vsocket.channel.VSocketEventLoopGroup;
import io.vsocket.channel.VSocketServerSocketChannel;
import io.vsocket.channel.VSocketSocketChannel;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.netty.handler.codec.http.HttpVersion.HTTP_1_1;

/**
 * An HTTP/1.1 file server on vsocket: {@code GET /name} sends the file {@code name} of one folder as
 * a {@link DefaultFileRegion} — sendfile(2) or a pread on the tcp link (plain clients such as curl),
 * read straight into the shared ring on shm (vsocket clients on this host). Keep-alive as HTTP/1.1
 * has it; nothing outside the folder is served.
 *
 * <pre>
 * examples/run http-file-server [folder] [port]     (default: the current folder, port 8080)
 * curl -O http://localhost:8080/some-file
 * </pre>
 */
public final class FileServer implements AutoCloseable {
    private final Channel listener;

    private FileServer(Channel listener) {
        this.listener = listener;
    }

    /** Serves {@code folder} on {@code address} with {@code group}'s loops (the caller shuts the group down). */
    public static FileServer start(EventLoopGroup group, InetSocketAddress address, Path folder)
            throws InterruptedException {
        Path root = folder.toAbsolutePath().normalize();
        Channel listener = new ServerBootstrap()
                .group(group)
                .channel(VSocketServerSocketChannel.class)
                .childHandler(new ChannelInitializer<VSocketSocketChannel>() {
                    @Override
                    protected void initChannel(VSocketSocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(64 * 1024),
                                new FileHandler(root));
                    }
                })
                .bind(address).sync().channel();
        return new FileServer(listener);
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    @Override
    public void close() throws InterruptedException {
        listener.close().sync();
    }

    /** Answers one request at a time per connection: the file as a region, or a short error. */
    @ChannelHandler.Sharable
    static final class FileHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Path root;

        FileHandler(Path root) {
            this.root = root;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) throws IOException {
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            if (!request.decoderResult().isSuccess()) {
                error(ctx, HttpResponseStatus.BAD_REQUEST, false);
                return;
            }
            if (request.method() != HttpMethod.GET) {
                error(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, keepAlive);
                return;
            }
            String name = new QueryStringDecoder(request.uri()).path();
            Path file = root.resolve(name.startsWith("/") ? name.substring(1) : name).normalize();
            if (!file.startsWith(root) || !Files.isRegularFile(file) || !Files.isReadable(file)) {
                error(ctx, HttpResponseStatus.NOT_FOUND, keepAlive);
                return;
            }
            RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r");
            long length;
            try {
                length = raf.length();
            } catch (IOException e) {
                raf.close(); // no region owns it yet
                throw e;
            }
            HttpResponse response = new DefaultHttpResponse(HTTP_1_1, HttpResponseStatus.OK);
            HttpUtil.setContentLength(response, length);
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM);
            HttpUtil.setKeepAlive(response, keepAlive);
            ctx.write(response);
            // The region owns the file from here: it closes it once written (or failed).
            ctx.write(new DefaultFileRegion(raf.getChannel(), 0, length));
            ChannelFuture last = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
            if (!keepAlive) {
                last.addListener(ChannelFutureListener.CLOSE);
            }
        }

        private static void error(ChannelHandlerContext ctx, HttpResponseStatus status, boolean keepAlive) {
            FullHttpResponse response = new DefaultFullHttpResponse(HTTP_1_1, status,
                    Unpooled.copiedBuffer(status + "\n", StandardCharsets.UTF_8));
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
            HttpUtil.setContentLength(response, response.content().readableBytes());
            HttpUtil.setKeepAlive(response, keepAlive);
            ChannelFuture f = ctx.writeAndFlush(response);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    public static void main(String[] args) throws InterruptedException {
        Path folder = Path.of(args.length > 0 ? args[0] : ".");
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 8080;
        EventLoopGroup group = new VSocketEventLoopGroup();
        try {
            FileServer server = start(group, new InetSocketAddress(port), folder);
            System.out.println("vsocket file server for " + folder.toAbsolutePath().normalize() + " on "
                    + server.address() + " (Ctrl-C stops it)");
            server.listener.closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }
}
