package io.vsocket.link;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/**
 * Reading and writing the fields of a link's part of the hello ({@link LinkHello}); a part that ends
 * early is a {@link HelloPartException}. For the link packages, not for applications.
 */
public final class HelloPart {
    private HelloPart() {
    }

    /** A string as a u8 length and UTF-8. */
    public static void writeString(ByteBuf out, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 255) {
            throw new IllegalArgumentException("hello string longer than 255 bytes: " + value);
        }
        out.writeByte(bytes.length);
        out.writeBytes(bytes);
    }

    public static String readString(ByteBuf part, String what) throws HelloPartException {
        require(part, 1, what);
        int length = part.readUnsignedByte();
        require(part, length, what);
        return part.readCharSequence(length, StandardCharsets.UTF_8).toString();
    }

    /** Throws unless {@code part} holds at least {@code bytes} more for {@code what}. */
    public static void require(ByteBuf part, int bytes, String what) throws HelloPartException {
        if (part.readableBytes() < bytes) {
            throw new HelloPartException(what + " ends early: " + part.readableBytes() + " bytes left, " + bytes
                    + " needed");
        }
    }

    /** Throws when anything is left in {@code part} after {@code what}. */
    public static void requireEnd(ByteBuf part, String what) throws HelloPartException {
        if (part.isReadable()) {
            throw new HelloPartException(what + " has " + part.readableBytes() + " stray bytes");
        }
    }
}
