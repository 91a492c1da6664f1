package io.vsocket.examples.redis;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.redis.ArrayRedisMessage;
import io.netty.handler.codec.redis.ErrorRedisMessage;
import io.netty.handler.codec.redis.FullBulkStringRedisMessage;
import io.netty.handler.codec.redis.InlineCommandRedisMessage;
import io.netty.handler.codec.redis.IntegerRedisMessage;
import io.netty.handler.codec.redis.RedisMessage;
import io.netty.handler.codec.redis.SimpleStringRedisMessage;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The commands of the example server, over one map shared by every connection: PING, ECHO, GET, SET,
 * DEL, EXISTS, INCR, INCRBY, DECR, MGET, STRLEN, DBSIZE, FLUSHDB, FLUSHALL. Keys and values are bytes
 * (keys held as ISO-8859-1 strings, which map bytes one to one). Anything else gets Redis's own
 * "ERR unknown command" reply, which is what clients such as Lettuce look for before falling back
 * from RESP3's HELLO to RESP2.
 */
@ChannelHandler.Sharable
public final class RedisCommandHandler extends SimpleChannelInboundHandler<RedisMessage> {
    private final ConcurrentMap<String, byte[]> store = new ConcurrentHashMap<>();

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, RedisMessage msg) {
        List<byte[]> args = arguments(msg);
        // Replies are written without a flush; channelReadComplete flushes once per read, so a
        // pipelined batch goes back in as few writes as it came in.
        ctx.write(args == null ? error("ERR Protocol error: expected an array of bulk strings") : execute(args));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A malformed request (the decoder's exception): say so, as Redis does, and close.
        ctx.writeAndFlush(error("ERR " + cause.getMessage())).addListener(f -> ctx.close());
    }

    /** The command's words, or null if the message is not a command. */
    private static List<byte[]> arguments(RedisMessage msg) {
        List<byte[]> args = new ArrayList<>();
        if (msg instanceof InlineCommandRedisMessage inline) { // typed by hand, as with telnet
            for (String word : inline.content().trim().split("\\s+")) {
                args.add(word.getBytes(StandardCharsets.ISO_8859_1));
            }
        } else if (msg instanceof ArrayRedisMessage array && !array.isNull()) {
            for (RedisMessage child : array.children()) {
                if (!(child instanceof FullBulkStringRedisMessage bulk) || bulk.isNull()) {
                    return null;
                }
                args.add(ByteBufUtil.getBytes(bulk.content())); // a copy: the message is released after this
            }
        } else {
            return null;
        }
        return args.isEmpty() || args.get(0).length == 0 ? null : args;
    }

    private RedisMessage execute(List<byte[]> args) {
        String command = new String(args.get(0), StandardCharsets.ISO_8859_1).toUpperCase(Locale.ROOT);
        int n = args.size() - 1;
        return switch (command) {
            case "PING" -> n == 0 ? new SimpleStringRedisMessage("PONG") : n == 1 ? bulk(args.get(1)) : arity(command);
            case "ECHO" -> n == 1 ? bulk(args.get(1)) : arity(command);
            case "GET" -> n == 1 ? bulk(store.get(key(args.get(1)))) : arity(command);
            case "SET" -> {
                if (n != 2) {
                    yield n < 2 ? arity(command) : error("ERR syntax error (this server's SET takes no options)");
                }
                store.put(key(args.get(1)), args.get(2));
                yield new SimpleStringRedisMessage("OK");
            }
            case "DEL", "EXISTS" -> {
                if (n == 0) {
                    yield arity(command);
                }
                long count = 0;
                for (int i = 1; i <= n; i++) {
                    String key = key(args.get(i));
                    if (command.equals("DEL") ? store.remove(key) != null : store.containsKey(key)) {
                        count++;
                    }
                }
                yield new IntegerRedisMessage(count);
            }
            case "INCR" -> n == 1 ? increment(args.get(1), 1) : arity(command);
            case "DECR" -> n == 1 ? increment(args.get(1), -1) : arity(command);
            case "INCRBY" -> {
                if (n != 2) {
                    yield arity(command);
                }
                Long by = parseLong(args.get(2));
                yield by == null ? error("ERR value is not an integer or out of range") : increment(args.get(1), by);
            }
            case "MGET" -> {
                if (n == 0) {
                    yield arity(command);
                }
                List<RedisMessage> values = new ArrayList<>(n);
                for (int i = 1; i <= n; i++) {
                    values.add(bulk(store.get(key(args.get(i)))));
                }
                yield new ArrayRedisMessage(values);
            }
            case "STRLEN" -> {
                if (n != 1) {
                    yield arity(command);
                }
                byte[] value = store.get(key(args.get(1)));
                yield new IntegerRedisMessage(value == null ? 0 : value.length);
            }
            case "DBSIZE" -> n == 0 ? new IntegerRedisMessage(store.size()) : arity(command);
            case "FLUSHDB", "FLUSHALL" -> {
                store.clear();
                yield new SimpleStringRedisMessage("OK");
            }
            default -> error("ERR unknown command '" + command.toLowerCase(Locale.ROOT) + "'");
        };
    }

    /** Atomic over concurrent connections: the map's compute runs one update of a key at a time. */
    private RedisMessage increment(byte[] key, long by) {
        long[] result = new long[1];
        boolean[] notANumber = new boolean[1];
        store.compute(key(key), (k, old) -> {
            Long current = old == null ? Long.valueOf(0) : parseLong(old);
            if (current == null || (by > 0 ? current > Long.MAX_VALUE - by : current < Long.MIN_VALUE - by)) {
                notANumber[0] = true;
                return old;
            }
            result[0] = current + by;
            return Long.toString(result[0]).getBytes(StandardCharsets.US_ASCII);
        });
        return notANumber[0] ? error("ERR value is not an integer or out of range") : new IntegerRedisMessage(result[0]);
    }

    private static Long parseLong(byte[] bytes) {
        try {
            return Long.parseLong(new String(bytes, StandardCharsets.US_ASCII));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static RedisMessage bulk(byte[] value) {
        if (value == null) {
            return FullBulkStringRedisMessage.NULL_INSTANCE;
        }
        ByteBuf content = Unpooled.wrappedBuffer(value); // the stored array is never changed, only replaced
        return new FullBulkStringRedisMessage(content);
    }

    private static RedisMessage arity(String command) {
        return error("ERR wrong number of arguments for '" + command.toLowerCase(Locale.ROOT) + "' command");
    }

    private static RedisMessage error(String message) {
        return new ErrorRedisMessage(message);
    }
}
