package io.vsocket.handshake;

import io.netty.buffer.ByteBuf;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.rdma.RdmaEndpoint;
import io.vsocket.link.shm.ShmRendezvous;
import io.vsocket.verbs.Gid;
import io.vsocket.verbs.Mtu;

import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Set;

/**
 * The hello messages that vsocket peers exchange on a new TCP connection before any application
 * byte, and their wire format. Every message is a 12-byte header (the 8-byte {@link #MAGIC},
 * version, type, big-endian body length) and a body of at most {@link #MAX_BODY} bytes.
 *
 * <pre>
 * server hello  token[16] links:u8 ringSize:u32 hostId:str rendezvous:str   (offers)
 * client hello  token[16] link:u8 ringSize:u32 [endpoint if link = rdma]     (the choice)
 * link ready    link:u8 reason:str [endpoint if link = rdma]                 (server: what the choice became)
 * str = u8 length + UTF-8
 * endpoint = gid[16] gidIndex:u8 qpn:u32 psn:u32 ringAddress:u64 rkey:u32 ringSize:u32 mtu:u16
 * </pre>
 */
public final class Hello {
    private Hello() {
    }

    /** Starts every message; chosen to be unlikely as the first bytes of any plain protocol. */
    static final byte[] MAGIC = {0x00, 'v', 'S', 'K', (byte) 0xD7, 0x1E, 0x5A, (byte) 0xA5};
    public static final int VERSION = 1;
    public static final int HEADER = 12;
    public static final int MAX_BODY = 1024;
    /** The out-of-band byte a vsocket client sends first: invisible in-band to a plain server. */
    public static final byte CLIENT_MARKER = 'v';
    /**
     * The marker of a client on the server's host that goes on over tcp at once and moves onto shm
     * when the hello completes ({@link ShmUpgradeLink}).
     */
    public static final byte UPGRADE_MARKER = 'u';
    /** The per-connection token: also what the shm rendezvous expects with a client's descriptors. */
    public static final int TOKEN_LENGTH = ShmRendezvous.TOKEN_LENGTH;

    static final int SERVER_HELLO = 1;
    static final int CLIENT_HELLO = 2;
    static final int LINK_READY = 3;

    /** What a hello can be. */
    public sealed interface Message permits ServerHello, ClientHello, LinkReady {
    }

    /** The server's offer: which links it takes and what the client needs to set them up. */
    public record ServerHello(byte[] token, Set<VSocketLink> links, int ringSize, String hostId, String rendezvous)
            implements Message {
    }

    /** The client's choice among the server's offer. */
    public record ClientHello(byte[] token, VSocketLink link, int ringSize, RdmaEndpoint rdma) implements Message {
        public ClientHello(byte[] token, VSocketLink link, int ringSize) {
            this(token, link, ringSize, null);
        }
    }

    /** What the client's choice became on the server: the link itself, or tcp and why. */
    public record LinkReady(VSocketLink link, String reason, RdmaEndpoint rdma) implements Message {
        public LinkReady(VSocketLink link, String reason) {
            this(link, reason, null);
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
        int length = in.getUnsignedShort(start + 10);
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
                case SERVER_HELLO -> new ServerHello(token(body), linkSet(body.readUnsignedByte()), body.readInt(),
                        string(body), string(body));
                case CLIENT_HELLO -> {
                    byte[] token = token(body);
                    VSocketLink link = link(body.readUnsignedByte());
                    int ringSize = body.readInt();
                    yield new ClientHello(token, link, ringSize, link == VSocketLink.RDMA ? endpoint(body) : null);
                }
                case LINK_READY -> {
                    VSocketLink link = link(body.readUnsignedByte());
                    String reason = string(body);
                    yield new LinkReady(link, reason, link == VSocketLink.RDMA ? endpoint(body) : null);
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
        out.writeByte(mask(hello.links()));
        out.writeInt(hello.ringSize());
        string(out, hello.hostId());
        string(out, hello.rendezvous());
        out.setShort(lengthAt, out.writerIndex() - lengthAt - 2);
    }

    public static void encode(ClientHello hello, ByteBuf out) {
        int lengthAt = header(out, CLIENT_HELLO);
        out.writeBytes(hello.token());
        out.writeByte(hello.link().ordinal());
        out.writeInt(hello.ringSize());
        if (hello.link() == VSocketLink.RDMA) {
            endpoint(out, hello.rdma());
        }
        out.setShort(lengthAt, out.writerIndex() - lengthAt - 2);
    }

    public static void encode(LinkReady ready, ByteBuf out) {
        int lengthAt = header(out, LINK_READY);
        out.writeByte(ready.link().ordinal());
        string(out, ready.reason());
        if (ready.link() == VSocketLink.RDMA) {
            endpoint(out, ready.rdma());
        }
        out.setShort(lengthAt, out.writerIndex() - lengthAt - 2);
    }

    private static void endpoint(ByteBuf out, RdmaEndpoint endpoint) {
        if (endpoint == null) {
            throw new IllegalArgumentException("an rdma hello needs the sender's rdma endpoint");
        }
        out.writeBytes(endpoint.gid().toByteArray());
        out.writeByte(endpoint.gidIndex());
        out.writeInt(endpoint.qpNumber());
        out.writeInt(endpoint.psn());
        out.writeLong(endpoint.ringAddress());
        out.writeInt(endpoint.rkey());
        out.writeInt(endpoint.ringSize());
        out.writeShort(endpoint.mtu());
    }

    private static RdmaEndpoint endpoint(ByteBuf body) throws HelloException {
        byte[] gid = new byte[Gid.BYTES];
        body.readBytes(gid);
        RdmaEndpoint endpoint = new RdmaEndpoint(Gid.of(gid), body.readUnsignedByte(), body.readInt(), body.readInt(),
                body.readLong(), body.readInt(), body.readInt(), body.readUnsignedShort());
        try {
            Mtu.ofBytes(endpoint.mtu());
        } catch (IllegalArgumentException e) {
            throw new HelloException("rdma endpoint in the vsocket hello has an impossible MTU: " + endpoint.mtu());
        }
        return endpoint;
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

    private static int mask(Set<VSocketLink> links) {
        int mask = 0;
        for (VSocketLink link : links) {
            mask |= 1 << link.ordinal();
        }
        return mask;
    }

    private static Set<VSocketLink> linkSet(int mask) throws HelloException {
        if (mask >>> VSocketLink.values().length != 0) {
            throw new HelloException("vsocket hello offers unknown links: mask 0x" + Integer.toHexString(mask));
        }
        EnumSet<VSocketLink> links = EnumSet.noneOf(VSocketLink.class);
        for (VSocketLink link : VSocketLink.values()) {
            if ((mask & 1 << link.ordinal()) != 0) {
                links.add(link);
            }
        }
        return links;
    }

    private static VSocketLink link(int code) throws HelloException {
        if (code >= VSocketLink.values().length) {
            throw new HelloException("vsocket hello names unknown link " + code);
        }
        return VSocketLink.values()[code];
    }

    private static void string(ByteBuf out, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 255) {
            throw new IllegalArgumentException("hello string longer than 255 bytes: " + value);
        }
        out.writeByte(bytes.length);
        out.writeBytes(bytes);
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
