package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.vsocket.link.HelloPart;
import io.vsocket.link.LinkHello;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmRendezvous;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * The hello messages that vsocket peers exchange on a new TCP connection before any application
 * byte, and their wire format. Every message is a 12-byte header (the 8-byte {@link #MAGIC},
 * version, type, big-endian body length) and a body of at most {@link #MAX_BODY} bytes. Each link
 * adds its own part to the messages as opaque bytes, which its {@link LinkHello} writes and reads.
 *
 * <pre>
 * server hello  token[16] ringSize:u32 count:u8 (link:u8 part)*   (offers: one part per link, tcp's empty)
 * client hello  token[16] link:u8 ringSize:u32 part                (the choice)
 * link ready    link:u8 reason:str part                            (server: what the choice became)
 * part = u16 length + the link's bytes;  str = u8 length + UTF-8
 * </pre>
 */
public final class Hello {
    private Hello() {
    }

    /** Starts every message; chosen to be unlikely as the first bytes of any plain protocol. */
    static final byte[] MAGIC = {0x00, 'v', 'S', 'K', (byte) 0xD7, 0x1E, 0x5A, (byte) 0xA5};
    /**
     * 6: the shm link's doorbell is the connection the client sent the memory on, so each side reads a
     * socket only it holds (a 5 peer sends an end of a socket pair it made beside the memfd); 5: the shm
     * link's doorbell is a socket pair, of which the client sends the server one end (4 peers
     * send two eventfds, which an eventfd's peer can make a ring block on); 4: the shm link's doorbells
     * start at one and are rung by writes of zero (a 3 peer making the offer would start them at zero,
     * and a 4 peer's rings would never wake it); 3: a late choice and its answer
     * may come in the middle of the stream, behind {@link #LATE_MARKER} (2 peers would read them as the
     * application's bytes); 2: each link's part as its own bytes (1 had the shm and rdma fields in the
     * messages themselves).
     */
    public static final int VERSION = 6;
    public static final int HEADER = 12;
    public static final int MAX_BODY = 1024;
    /** The out-of-band byte a vsocket client sends first: invisible in-band to a plain server. */
    public static final byte CLIENT_MARKER = 'v';
    /**
     * The marker of a client on the server's host that goes on over tcp at once and moves onto shm
     * when the hello completes ({@link ShmUpgradeLink}).
     */
    public static final byte UPGRADE_MARKER = 'u';
    /**
     * What a loopback client that goes on over tcp at once and moves onto shm carries in its SYN
     * instead of {@link #UPGRADE_MARKER}: this traffic class (DSCP 59, of RFC 2474's pool for local and
     * experimental use; the ECN bits aside), which a vsocket server reads from the SYN its listener
     * saved. Nothing of it is in the stream, so a plain server that closes without reading never
     * meets an unread byte there (which made its close a reset), and the server learns of the client
     * at accept, without a segment of its own. The client sets it for the handshake only and then
     * restores its own. A plain loopback client whose traffic class is this one is taken for a vsocket
     * client: the class is reserved on a host that runs vsocket servers.
     */
    public static final int SYN_MARK = 59 << 2;
    /**
     * What every other vsocket client of a loopback server carries in its SYN (DSCP 55, of the same
     * pool): one that sends {@link #CLIENT_MARKER} after the connect and waits for the offer, or goes on
     * over tcp watching for it. With the two marks, a loopback SYN whose class the listener saved and
     * that carries neither is a plain client's, which its server serves over tcp at accept: a
     * server-first protocol's greeting (an SMTP banner, a server that writes in {@code channelActive})
     * goes at once instead of after the hello timeout, as on epoll. Reserved on such a host as
     * {@link #SYN_MARK} is.
     */
    public static final int SYN_MARK_HELLO = 55 << 2;

    /** What a listener's saved SYN says of its client, from the SYN's traffic class ({@code -1}: none saved). */
    enum SynMark {
        /** No SYN saved (SYN cookies, or none asked for): the client is learned from its first bytes or marker. */
        UNKNOWN,
        /** Neither mark: a plain client's, if it came from loopback (only loopback clients mark theirs). */
        NONE,
        /** {@link #SYN_MARK}: a client that goes on over tcp at once and moves onto shm. */
        UPGRADE,
        /** {@link #SYN_MARK_HELLO}: a client whose urgent marker follows. */
        HELLO;

        static SynMark of(int trafficClass) {
            if (trafficClass < 0) {
                return UNKNOWN;
            }
            return switch (trafficClass & 0xfc) { // the ECN bits aside
                case SYN_MARK -> UPGRADE;
                case SYN_MARK_HELLO -> HELLO;
                default -> NONE;
            };
        }
    }

    /**
     * The urgent byte that marks where a late hello begins in the middle of a stream: a client's choice
     * made after it had sent bytes over tcp, and the server's answer behind its own bytes
     * ({@link LinkNegotiation}).
     */
    public static final byte LATE_MARKER = 'l';
    /** The per-connection token: also what the shm rendezvous expects with a client's descriptors. */
    public static final int TOKEN_LENGTH = ShmRendezvous.TOKEN_LENGTH;
    static final byte[] NO_PART = new byte[0];

    static final int SERVER_HELLO = 1;
    static final int CLIENT_HELLO = 2;
    static final int LINK_READY = 3;

    /** What a hello can be. */
    public sealed interface Message permits ServerHello, ClientHello, LinkReady {
    }

    /** The server's offer: which links it takes, each with its part (what the client needs to set it up). */
    public record ServerHello(byte[] token, int ringSize, Map<VSocketLink, byte[]> parts) implements Message {
        public ServerHello {
            EnumMap<VSocketLink, byte[]> copy = new EnumMap<>(VSocketLink.class);
            copy.putAll(parts); // (EnumMap's copy constructor refuses an empty map of another kind)
            parts = Collections.unmodifiableMap(copy);
        }

        public Set<VSocketLink> links() {
            return parts.keySet();
        }
    }

    /** The client's choice among the server's offer, with the chosen link's part. */
    public record ClientHello(byte[] token, VSocketLink link, int ringSize, byte[] part) implements Message {
        public ClientHello(byte[] token, VSocketLink link, int ringSize) {
            this(token, link, ringSize, NO_PART);
        }
    }

    /** What the client's choice became on the server: the link itself (with its part), or tcp and why. */
    public record LinkReady(VSocketLink link, String reason, byte[] part) implements Message {
        public LinkReady(VSocketLink link, String reason) {
            this(link, reason, NO_PART);
        }
    }

    /** What {@code writer} writes, as a part's bytes. */
    static byte[] part(LinkHello.PartWriter writer) {
        ByteBuf out = Unpooled.buffer(64);
        try {
            writer.write(out);
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
        }
    }

    /**
     * True while the readable bytes of {@code in} agree with the start of a hello: false means the
     * peer sent something else (a plain TCP peer's own bytes).
     */
    public static boolean startsLikeHello(ByteBuf in) {
        int n = Math.min(in.readableBytes(), MAGIC.length);
        for (int i = 0; i < n; i++) {
            if (in.getByte(in.readerIndex() + i) != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * True when {@code in} holds some of the magic and not all of it: first bytes that began like a hello
     * and stopped. Once they stop for a hello timeout they are no hello — a vsocket side writes its hello
     * whole, in one write — but a plain peer's own bytes that merely begin as the magic does (a greeting
     * that starts with a zero byte), which may wait for this side's answer: the application's.
     */
    static boolean partOfTheMagicOnly(ByteBuf in) {
        return in.isReadable() && in.readableBytes() < MAGIC.length;
    }

    /** The body length the header at the front of {@code in} declares (it must be there whole), unchecked. */
    static int bodyLength(ByteBuf in) {
        return in.getUnsignedShort(in.readerIndex() + HEADER - 2);
    }

    /**
     * How many more bytes the message at the front of {@code in} needs (0: complete), as far as its
     * header says: what a reader takes to read that message and nothing behind it. Its body's length
     * is bounded by {@link #MAX_BODY} whatever the header says.
     */
    static int bytesMissing(ByteBuf in) {
        int readable = in.readableBytes();
        if (readable < HEADER) {
            return HEADER - readable;
        }
        int length = Math.min(bodyLength(in), MAX_BODY);
        return Math.max(0, HEADER + length - readable);
    }

    /**
     * Decodes one message from the front of {@code in}, consuming it; null while incomplete (nothing
     * consumed). Throws when the bytes cannot be a hello.
     */
    public static Message decode(ByteBuf in) throws HelloException {
        if (!startsLikeHello(in)) {
            throw new HelloException("not a vsocket hello: the first bytes are " + hex(in, MAGIC.length));
        }
        if (in.readableBytes() < HEADER) {
            return null;
        }
        int start = in.readerIndex();
        int version = in.getUnsignedByte(start + 8);
        int type = in.getUnsignedByte(start + 9);
        int length = bodyLength(in);
        if (version != VERSION) {
            throw new HelloException("unsupported vsocket hello version " + version + " (this side speaks " + VERSION + ")");
        }
        if (length > MAX_BODY) {
            throw new HelloException("vsocket hello body of " + length + " bytes exceeds " + MAX_BODY);
        }
        if (in.readableBytes() < HEADER + length) {
            return null;
        }
        ByteBuf body = in.slice(start + HEADER, length);
        Message message;
        try {
            message = switch (type) {
                case SERVER_HELLO -> {
                    byte[] token = token(body);
                    int ringSize = body.readInt();
                    int count = body.readUnsignedByte();
                    EnumMap<VSocketLink, byte[]> parts = new EnumMap<>(VSocketLink.class);
                    int previous = -1;
                    for (int i = 0; i < count; i++) {
                        VSocketLink link = link(body.readUnsignedByte());
                        if (link.ordinal() <= previous) {
                            // One order only, so that a hello has one encoding.
                            throw new HelloException("vsocket hello offers " + link + " twice or out of order");
                        }
                        previous = link.ordinal();
                        parts.put(link, part(body, link));
                    }
                    yield new ServerHello(token, ringSize, parts);
                }
                case CLIENT_HELLO -> {
                    byte[] token = token(body);
                    VSocketLink link = link(body.readUnsignedByte());
                    int ringSize = body.readInt();
                    yield new ClientHello(token, link, ringSize, part(body, link));
                }
                case LINK_READY -> {
                    VSocketLink link = link(body.readUnsignedByte());
                    String reason = string(body);
                    yield new LinkReady(link, reason, part(body, link));
                }
                default -> throw new HelloException("unknown vsocket hello type " + type);
            };
        } catch (IndexOutOfBoundsException e) {
            throw new HelloException("vsocket hello type " + type + " truncated: its body of " + length
                    + " bytes ends inside a field");
        }
        if (body.isReadable()) {
            throw new HelloException("vsocket hello type " + type + " has " + body.readableBytes() + " stray bytes");
        }
        in.skipBytes(HEADER + length);
        return message;
    }

    public static void encode(ServerHello hello, ByteBuf out) {
        int lengthAt = header(out, SERVER_HELLO);
        out.writeBytes(hello.token());
        out.writeInt(hello.ringSize());
        out.writeByte(hello.parts().size());
        for (Map.Entry<VSocketLink, byte[]> part : hello.parts().entrySet()) {
            out.writeByte(part.getKey().ordinal());
            part(out, part.getValue());
        }
        bodyLength(out, lengthAt);
    }

    public static void encode(ClientHello hello, ByteBuf out) {
        int lengthAt = header(out, CLIENT_HELLO);
        out.writeBytes(hello.token());
        out.writeByte(hello.link().ordinal());
        out.writeInt(hello.ringSize());
        part(out, hello.part());
        bodyLength(out, lengthAt);
    }

    public static void encode(LinkReady ready, ByteBuf out) {
        int lengthAt = header(out, LINK_READY);
        out.writeByte(ready.link().ordinal());
        HelloPart.writeString(out, ready.reason());
        part(out, ready.part());
        bodyLength(out, lengthAt);
    }

    private static void part(ByteBuf out, byte[] part) {
        if (part.length > MAX_BODY) {
            throw new IllegalArgumentException("a link's part of the hello is " + part.length + " bytes");
        }
        out.writeShort(part.length);
        out.writeBytes(part);
    }

    /** {@code link}'s part; tcp has none (bytes there are a broken hello, as stray bytes are). */
    private static byte[] part(ByteBuf body, VSocketLink link) throws HelloException {
        int length = body.readUnsignedShort();
        if (length > body.readableBytes()) {
            throw new IndexOutOfBoundsException(); // truncated: said by decode, before any allocation
        }
        if (link == VSocketLink.TCP && length != 0) {
            throw new HelloException("vsocket hello gives tcp a part of " + length + " bytes: tcp has none");
        }
        byte[] part = new byte[length];
        body.readBytes(part);
        return part;
    }

    /** Writes the body's length into the header at {@code lengthAt}; refuses a body over {@link #MAX_BODY}. */
    private static void bodyLength(ByteBuf out, int lengthAt) {
        int length = out.writerIndex() - lengthAt - 2;
        if (length > MAX_BODY) {
            throw new IllegalArgumentException("a vsocket hello body of " + length + " bytes exceeds " + MAX_BODY);
        }
        out.setShort(lengthAt, length);
    }

    private static int header(ByteBuf out, int type) {
        out.writeBytes(MAGIC);
        out.writeByte(VERSION);
        out.writeByte(type);
        int lengthAt = out.writerIndex();
        out.writeShort(0);
        return lengthAt;
    }

    private static byte[] token(ByteBuf body) {
        byte[] token = new byte[TOKEN_LENGTH];
        body.readBytes(token);
        return token;
    }

    private static VSocketLink link(int code) throws HelloException {
        if (code >= VSocketLink.values().length) {
            throw new HelloException("vsocket hello names unknown link " + code);
        }
        return VSocketLink.values()[code];
    }

    private static String string(ByteBuf body) {
        int length = body.readUnsignedByte();
        return body.readCharSequence(length, StandardCharsets.UTF_8).toString();
    }

    private static String hex(ByteBuf in, int max) {
        StringBuilder text = new StringBuilder();
        int n = Math.min(in.readableBytes(), max);
        for (int i = 0; i < n; i++) {
            text.append(String.format("%02x", in.getByte(in.readerIndex() + i)));
        }
        return text.toString();
    }
}
