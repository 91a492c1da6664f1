package io.vsocket.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.util.internal.logging.InternalLogger;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.vsocket.buffer.RegisteredAllocator;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.VSocketLink;
import io.vsocket.link.shm.ShmConnectionLink;
import io.vsocket.verbs.Verbs;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;

/** Parses and holds the defaults of the link options ({@link VSocketChannelOption}). */
public final class VSocketLinks {
    private static final InternalLogger logger = InternalLoggerFactory.getInstance(VSocketLinks.class);

    private VSocketLinks() {
    }

    /** The system property that sets every channel's default links. */
    public static final String LINKS_PROPERTY = "io.vsocket.links";
    /** The system property that sets the ring size of every link (both defaults below). */
    public static final String RING_SIZE_PROPERTY = "io.vsocket.ringSize";
    /** {@code -Dio.vsocket.ringSize}, read once (one warning for a bad value): the size for every link, or 0. */
    private static final int RING_SIZE_SET = ringSizeProperty(System.getProperty(RING_SIZE_PROPERTY));
    /**
     * 1 MiB per shm receive ring: a message of up to a quarter ring (256 KiB) crosses in one stretch,
     * without waiting for credit (with 256 KiB rings, 256 KiB messages went a quarter ring at a time
     * and waited for credit, slower than epoll: the README's "Larger messages"). It is address space
     * more than memory: pages exist only once written, and a connection idle for {@link
     * #IDLE_RELEASE_MILLIS} gives its ring pages back (see {@code ShmLink#releaseIdleRing}), so a busy
     * connection holds up to 1 MiB per direction, as loopback TCP's buffers grow to some MiB for a
     * connection that moves much. {@code -Dio.vsocket.ringSize} sets it.
     */
    public static final int DEFAULT_SHM_RING_SIZE = RING_SIZE_SET != 0 ? RING_SIZE_SET : 1024 * 1024;
    /**
     * 256 KiB per rdma receive ring: room for a 64 KiB write to stream without stalling on credit.
     * Smaller than shm's: an rdma ring is registered (pinned) memory for as long as the connection
     * lives, written or not. {@code -Dio.vsocket.ringSize} sets it.
     */
    public static final int DEFAULT_RDMA_RING_SIZE = RING_SIZE_SET != 0 ? RING_SIZE_SET : 256 * 1024;
    /**
     * The ring size {@code -Dio.vsocket.ringSize} gives ({@code value}), or 0 where it gives none: unset,
     * blank, or 0 (as the option's 0, each link's default). A value that is no ring size is refused with a
     * warning that says why, as Netty treats a malformed system property, and each link's default holds:
     * before, such a size failed every connection's hello, far from its cause.
     */
    static int ringSizeProperty(String value) {
        String size = value == null ? "" : value.trim();
        if (size.isEmpty() || size.equals("0")) {
            return 0;
        }
        try {
            return LinkSettings.validateRingSize(Integer.parseInt(size));
        } catch (IllegalArgumentException e) {
            logger.warn("-D{}={} ignored ({}): each link keeps its default ring size", RING_SIZE_PROPERTY, value,
                    e instanceof NumberFormatException ? "not a decimal number" : e.getMessage());
            return 0;
        }
    }

    /** Default of {@link VSocketChannelOption#RECEIVE_IN_PLACE}. */
    public static final boolean DEFAULT_RECEIVE_IN_PLACE =
            Boolean.parseBoolean(System.getProperty("io.vsocket.receiveInPlace", "true"));
    /** How long an shm connection writes nothing before it returns its ring pages to the kernel. */
    public static final long IDLE_RELEASE_MILLIS = ShmConnectionLink.IDLE_RELEASE_MILLIS;
    public static final int MIN_RING_SIZE = LinkSettings.MIN_RING_SIZE;
    public static final int MAX_RING_SIZE = LinkSettings.MAX_RING_SIZE;
    /**
     * The default receive ring on {@code link}: {@link #DEFAULT_RDMA_RING_SIZE} on rdma, else {@link
     * #DEFAULT_SHM_RING_SIZE} (tcp has no ring; the hello announces shm's).
     */
    public static int defaultRingSize(VSocketLink link) {
        return link == VSocketLink.RDMA ? DEFAULT_RDMA_RING_SIZE : DEFAULT_SHM_RING_SIZE;
    }

    public static final int DEFAULT_HELLO_TIMEOUT_MILLIS = Integer.getInteger("io.vsocket.helloTimeoutMillis", 200);

    /**
     * The allocator a vsocket channel starts with: where rdma is allowed by default and the machine
     * has an RDMA device, {@link RegisteredAllocator#shared()}, whose buffers the rdma link sends
     * without a copy; else Netty's default. {@code ChannelOption.ALLOCATOR} replaces it as usual.
     * Public for frameworks that set an allocator of their own on every channel (gRPC does): an
     * integration hands this back to them where it is the registered one.
     */
    public static ByteBufAllocator defaultAllocator() {
        return DefaultAllocator.INSTANCE;
    }

    private static final class DefaultAllocator {
        static final ByteBufAllocator INSTANCE = choose();

        private static ByteBufAllocator choose() {
            try {
                if (defaults().contains(VSocketLink.RDMA) && RegisteredAllocator.shared().pool().limit() > 0
                        && Verbs.isAvailable() && !Verbs.deviceNames().isEmpty()) {
                    return RegisteredAllocator.shared();
                }
            } catch (Exception | LinkageError e) {
                // no devices to be listed: no rdma link either
            }
            return ByteBufAllocator.DEFAULT;
        }
    }

    /** The default preference list: {@code io.vsocket.links}, else shm, rdma, tcp. */
    public static List<VSocketLink> defaults() {
        String property = System.getProperty(LINKS_PROPERTY);
        if (property == null || property.isBlank()) {
            return List.of(VSocketLink.SHM, VSocketLink.RDMA, VSocketLink.TCP);
        }
        return parse(property);
    }

    /** Parses a comma list such as {@code "shm,tcp"}; unknown or repeated names are rejected. */
    public static List<VSocketLink> parse(String list) {
        List<VSocketLink> links = new ArrayList<>();
        EnumSet<VSocketLink> seen = EnumSet.noneOf(VSocketLink.class);
        for (String part : list.split(",")) {
            String name = part.trim();
            if (name.isEmpty()) {
                continue;
            }
            VSocketLink link;
            try {
                link = VSocketLink.valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown vsocket link '" + name + "' in '" + list
                        + "' (expected shm, rdma or tcp)");
            }
            if (!seen.add(link)) {
                throw new IllegalArgumentException("link '" + name + "' appears twice in '" + list + "'");
            }
            links.add(link);
        }
        return validate(links);
    }

    static List<VSocketLink> validate(List<VSocketLink> links) {
        if (links.isEmpty()) {
            throw new IllegalArgumentException("no vsocket link allowed: name at least one of shm, rdma, tcp");
        }
        if (EnumSet.copyOf(links).size() != links.size()) {
            throw new IllegalArgumentException("a link appears twice in " + links);
        }
        return List.copyOf(links);
    }
}
