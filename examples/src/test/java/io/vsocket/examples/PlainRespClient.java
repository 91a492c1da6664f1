package io.vsocket.examples;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A plain {@code java.net} client that speaks RESP the way {@code redis-cli} does: what a client that
 * knows nothing of vsocket sees of the examples' servers (they serve such clients over TCP).
 */
public final class PlainRespClient implements AutoCloseable {
    private final Socket socket = new Socket();
    private final InputStream in;

    public PlainRespClient(InetSocketAddress address) throws IOException {
        socket.connect(address, 10_000);
        socket.setSoTimeout(60_000);
        in = socket.getInputStream();
    }

    /** Sends one command as a RESP array of bulk strings and returns the reply's first line. */
    public String command(String... words) throws IOException {
        StringBuilder request = new StringBuilder("*").append(words.length).append("\r\n");
        for (String word : words) {
            request.append('$').append(word.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(word).append("\r\n");
        }
        return send(request.toString());
    }

    /** Sends {@code raw} as it is (an inline command, say) and returns the reply's first line. */
    public String send(String raw) throws IOException {
        socket.getOutputStream().write(raw.getBytes(StandardCharsets.UTF_8));
        socket.getOutputStream().flush();
        String first = line();
        if (first.startsWith("$") && !first.equals("$-1")) {
            String value = line(); // a bulk reply: its value is on the next line
            return first + " " + value;
        }
        return first;
    }

    private String line() throws IOException {
        StringBuilder s = new StringBuilder();
        for (int c; (c = in.read()) != -1; ) {
            if (c == '\n' && s.length() > 0 && s.charAt(s.length() - 1) == '\r') {
                s.setLength(s.length() - 1);
                return s.toString();
            }
            s.append((char) c);
        }
        throw new IOException("connection closed after '" + s + "'");
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
