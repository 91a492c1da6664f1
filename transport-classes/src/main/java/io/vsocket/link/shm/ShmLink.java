package io.vsocket.link.shm;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.concurrent.EventExecutor;
import io.vsocket.link.LinkSettings;
import io.vsocket.link.Resources;
import io.vsocket.link.SharedArenaCloser;
import io.vsocket.stream.ReceiveCursor;
import io.vsocket.stream.RingCopy;
import io.vsocket.stream.RingProtocolException;
import io.vsocket.stream.RingSource;
import io.vsocket.stream.StreamLink;
import io.vsocket.stream.SendCursor;
import io.vsocket.unix.Doorbell;
import io.vsocket.unix.PeerDescriptors;
import io.vsocket.unix.MappedRegion;
import io.vsocket.unix.MemFd;
import io.vsocket.unix.NativeIoException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The shm link of one connection: two receive rings and their cursors in one memfd mapped by both
 * processes, and a {@link Doorbell} between them (the Unix connection the memfd went on, one end
 * each). Nothing else is
 * shared: not the pool, not the event loop's state.
 *
 * <pre>
 * page 0, per direction (client-to-server at 0, server-to-client at 256), one cache line each:
 *   +0   producer        written by the sender (store-release), read by the receiver
 *   +8   restartedAt     written by the sender before the producer: where it last left a lap (below)
 *   +64  consumer        written by the receiver: the credit it returns
 *   +72  takesRestarts   1: the receiver skips a lap the sender left (set as its link is made)
 *   +128 receiverParked  the receiver is about to block: the sender rings its doorbell
 *   +192 senderParked    the sender is out of credit and about to block: the receiver rings
 * page 0 at 512 + 64 * side: outputDone, set by that side when it shuts its output or closes cleanly
 * page 0 at 640 + 64 * side: closed, set by that side when it closes in any way (writes to it fail)
 * page 0 at 768 + 64 * side: tcpEnd, for a connection that began on tcp and moves onto the rings
 *   (the hello as an upgrade): 0 while that side still writes over tcp, else 1 + the bytes it wrote
 *   there, after which its stream goes on in its ring (store-release before its first ring byte)
 * page 0 at 896: attached, set by the server once it has mapped the memory and watches its ring
 * page 0 at 1024 (client-to-server) and 2048 (server-to-client): the receiver's holes
 *   +0   announced       count of holes ever announced (store-release), written by the receiver
 *   +8   lending         1 while the receiver has bytes of its ring on loan
 *   +64  entries         HOLE_SLOTS of (start, end): stream positions the writer must skip
 * then the client-to-server ring (the server's receive ring), then the server-to-client ring.
 * </pre>
 *
 * Parking is Dekker's handshake: a side sets its parked flag, fences, and looks at the cursor
 * once more before it blocks; the other side moves the cursor, fences, and rings only if it sees
 * the flag (clearing it first, so one doorbell per sleep). No system call happens while both spin.
 *
 * <p>The receiver may hand stretches of its ring to the pipeline as they lie ({@link #lend}); see
 * {@link LoanLedger} for how the writer is kept off them (holes) while they are held.
 *
 * <p>A writer that finds the ring empty mid-lap (every byte read and credited, nothing lent, no hole
 * ahead) goes on at the ring's start: it writes where it leaves the lap into {@code restartedAt},
 * then the next bytes at the start of the next lap; a reader whose cursor stands at {@code
 * restartedAt} when the producer moves skips to that lap's start unread (the writer counts the
 * skipped stretch as credited already). So a connection whose messages are small keeps to the first
 * pages of its ring however large the ring, which stays in the cache and leaves the rest of the memfd
 * unwritten; only messages that need the room touch it. A reader that does not say {@code
 * takesRestarts} (a vsocket before this) gets no restart.
 *
 * <p>A peer can write anything into the shared page, so every cursor read from it is checked by
 * {@link SendCursor}/{@link ReceiveCursor}, and the memfd is sealed against shrinking: a peer can
 * corrupt its own stream but not crash this process. Event-loop thread only.
 */
public final class ShmLink implements StreamLink {
    static final int HEADER_SIZE = 4096;
    private static final int DIRECTION_STRIDE = 256;
    private static final int PRODUCER = 0;
    private static final int RESTARTED_AT = PRODUCER + 8;
    private static final int CONSUMER = 64;
    private static final int TAKES_RESTARTS = CONSUMER + 8;
    /** See {@link #drainedFrom}. */
    private static final int DRAINED_FROM = 64 << 10;
    /**
     * {@code -Dio.vsocket.shmRestartLaps=false}: this side does not take lap restarts in its rings
     * (its peers' writers then go round the whole ring, as before them).
     */
    private static final boolean RESTART_LAPS = !"false".equals(System.getProperty("io.vsocket.shmRestartLaps"));
    private static final int RECEIVER_PARKED = 128;
    private static final int SENDER_PARKED = 192;
    private static final int OUTPUT_DONE = 512;
    private static final int CLOSED = 640;
    private static final int TCP_END = 768;
    private static final int ATTACHED = 896;
    private static final int HOLES = 1024;
    private static final int HOLES_ANNOUNCED = 0;
    private static final int HOLES_LENDING = 8;
    private static final int HOLE_ENTRIES = 64;
    private static final int HOLE_ENTRY_SIZE = 16;
    /** Smallest stretch lent instead of copied: below it a copy costs less than the loan's bookkeeping. */
    static final int LEND_MIN = 4096;
    /** {@link #outstanding}'s flag: the link is closed, the last loan back unmaps. */
    private static final int LINK_CLOSED = 1 << 30;

    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final MappedRegion region;
    private final MemorySegment memory;
    /** This side's end of the doorbell: rung, it wakes the peer; readable, the peer rang. */
    private final Doorbell doorbell;
    private final int tx;
    private final int rx;
    private final int outputDone;
    private final int peerOutputDone;
    private final int closedFlag;
    private final int peerClosedFlag;
    private final int tcpEnd;
    private final int peerTcpEnd;
    private final ByteBuffer txRing;
    private final long txRingOffset;
    private final long rxRingOffset;
    private boolean txRingTouched;
    private final ByteBuffer rxRing;
    private final SendCursor sendCursor;
    private final ReceiveCursor receiveCursor;
    private final int creditQuantum;
    /**
     * A read that leaves nothing unread past this point of the lap says so at once (see {@link #read}):
     * a quarter ring, or 64 KiB in a larger one.
     */
    private final int drainedFrom;
    private final int publishQuantum;
    private long creditReturned;
    private boolean receiverParked;
    private boolean senderParked;
    private boolean closed;

    // Writer side: the next hole the peer announced in the ring this side writes, if taken.
    private final long txHoles;
    private long holesTaken;
    private long txHoleStart = Long.MAX_VALUE;
    private long txHoleEnd;
    private long txLastHoleEnd;
    /** The peer said it takes lap restarts (asked until it has). */
    private boolean peerTakesRestarts;
    /** Where this side last left a lap of the peer's ring, or -1; and where that lap ended. */
    private long restartedAt = -1;
    private long restartEnd;

    // Receiver side: loans and the holes announced for them.
    private final long rxHoles;
    private final LoanLedger ledger;
    private final LoanLedger.HoleSink holeSink = this::publishHole;
    /** The loop that lends and takes returns; null while the link is off every loop (its channel moving). */
    private volatile EventExecutor loop;
    private long bytesLent;
    /** Loans not yet released, anywhere, plus {@link #LINK_CLOSED} once closed: whoever brings it to just the flag unmaps. */
    private final AtomicInteger outstanding = new AtomicInteger();
    // Not Agrona's queue: its concurrent classes need jdk.internal.misc exported to them, a flag no
    // application should have to add. Releases off the loop are the rare case; a node each is fine.
    private final Queue<Long> returnedElsewhere = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    private final Runnable drainReturns = this::drainReturns;

    private ShmLink(boolean client, MappedRegion region, Doorbell doorbell, int clientRing, int serverRing) {
        this.region = region;
        this.memory = region.segment();
        this.doorbell = doorbell;
        int toServer = 0;
        int toClient = DIRECTION_STRIDE;
        this.tx = client ? toServer : toClient;
        this.rx = client ? toClient : toServer;
        this.outputDone = OUTPUT_DONE + (client ? 0 : 64);
        this.peerOutputDone = OUTPUT_DONE + (client ? 64 : 0);
        this.closedFlag = CLOSED + (client ? 0 : 64);
        this.peerClosedFlag = CLOSED + (client ? 64 : 0);
        this.tcpEnd = TCP_END + (client ? 0 : 64);
        this.peerTcpEnd = TCP_END + (client ? 64 : 0);
        ByteBuffer serverRx = memory.asSlice(HEADER_SIZE, serverRing).asByteBuffer();
        ByteBuffer clientRx = memory.asSlice(HEADER_SIZE + (long) serverRing, clientRing).asByteBuffer();
        this.txRing = client ? serverRx : clientRx;
        this.txRingOffset = client ? HEADER_SIZE : HEADER_SIZE + (long) serverRing;
        this.rxRingOffset = client ? HEADER_SIZE + (long) serverRing : HEADER_SIZE;
        this.rxRing = client ? clientRx : serverRx;
        this.sendCursor = new SendCursor(client ? serverRing : clientRing);
        this.receiveCursor = new ReceiveCursor(client ? clientRing : serverRing);
        this.creditQuantum = receiveCursor.capacity() / 4;
        this.drainedFrom = Math.min(creditQuantum, DRAINED_FROM);
        this.publishQuantum = sendCursor.capacity() / 4;
        this.txHoles = HOLES + 4L * tx;
        this.rxHoles = HOLES + 4L * rx;
        this.ledger = new LoanLedger(receiveCursor.capacity());
        takeRestarts(RESTART_LAPS);
    }

    /** Says whether this side skips a lap its peer leaves in this side's ring (tests take it back, as an older reader). */
    void takeRestarts(boolean take) {
        INT.setRelease(memory, (long) rx + TAKES_RESTARTS, take ? 1 : 0);
    }

    /** The size of the memfd for these rings. */
    public static long regionSize(int clientRing, int serverRing) {
        return HEADER_SIZE + (long) clientRing + serverRing;
    }

    /**
     * The client's half of set-up: makes and maps the shared memory for these rings, which it then sends
     * to the server on a Unix connection that becomes the link's doorbell ({@link Offer#link}).
     */
    public static Offer offer(int clientRing, int serverRing) throws NativeIoException {
        MemFd memFd = null;
        try {
            memFd = MemFd.create("vsocket-shm", regionSize(clientRing, serverRing));
            memFd.sealSize();
            return new Offer(memFd, memFd.map(), clientRing, serverRing);
        } catch (NativeIoException | RuntimeException e) {
            Resources.closeQuietly(memFd);
            throw e;
        }
    }

    /**
     * The server's half: maps the memfd the client sent and takes the connection it came on as the
     * doorbell ({@link Doorbell#adopt}). Takes ownership of both descriptors in every case; the memfd is
     * closed once mapped. A {@code clientRing} of 0 means the client did not say: its ring is what the
     * memory holds beyond the server's ring (it must still be a ring size).
     */
    public static ShmLink attach(int memFdFd, int doorbellFd, int clientRing, int serverRing)
            throws NativeIoException, RingProtocolException {
        Doorbell doorbell;
        try {
            doorbell = Doorbell.adopt(doorbellFd); // (closes it when it refuses it)
        } catch (NativeIoException e) {
            PeerDescriptors.close(memFdFd);
            throw e;
        }
        return attach(memFdFd, doorbell, clientRing, serverRing);
    }

    /** {@link #attach(int, int, int, int)} with a doorbell end already owned here (both sides of a link in one process). */
    public static ShmLink attach(int memFdFd, Doorbell doorbell, int clientRing, int serverRing)
            throws NativeIoException, RingProtocolException {
        MemFd memFd = null;
        MappedRegion region = null;
        try {
            // The adopt closes the descriptor when it fails (a second close here could hit a descriptor
            // another thread was just given that number: a set-up runs off the loop).
            memFd = MemFd.adopt(memFdFd);
            // Seals first, then the size: read before the seals, a size could change in between (and a
            // mapping past the file's end faults with SIGBUS on first touch).
            if (!memFd.isSizeSealed()) {
                throw new RingProtocolException("the peer's shared memory is not sealed against resizing");
            }
            long size = memFd.currentSize();
            if (clientRing == 0) {
                long rest = size - HEADER_SIZE - serverRing;
                if (!LinkSettings.isRingSize(rest)) {
                    throw new RingProtocolException("the peer's shared memory has " + size + " bytes: no ring size "
                            + "fits beside this side's ring of " + serverRing);
                }
                clientRing = (int) rest;
            }
            long expected = regionSize(clientRing, serverRing);
            if (size != expected) {
                throw new RingProtocolException("the peer's shared memory has " + size + " bytes, the rings need "
                        + expected);
            }
            region = memFd.map();
            return new ShmLink(false, region, doorbell, clientRing, serverRing);
        } catch (NativeIoException | RingProtocolException | RuntimeException e) {
            Resources.closeQuietly(region, doorbell);
            throw e;
        } finally {
            if (memFd != null) {
                Resources.closeQuietly(memFd);
            }
        }
    }

    /**
     * The client's shared memory, made and mapped, before it goes to the server: the memfd to send (this
     * side's copy is {@linkplain #close() closed} once sent, or not), and the mapping, which becomes the
     * client's link with the connection it went on ({@link #link}) or is unmapped by the close.
     */
    public static final class Offer implements AutoCloseable {
        private final MemFd memFd;
        private final int clientRing;
        private final int serverRing;
        private MappedRegion region;

        private Offer(MemFd memFd, MappedRegion region, int clientRing, int serverRing) {
            this.memFd = memFd;
            this.region = region;
            this.clientRing = clientRing;
            this.serverRing = serverRing;
        }

        /** The descriptors for SCM_RIGHTS: the memfd ({@link #attach}'s first argument). */
        public int[] descriptors() {
            return new int[] {memFd.fd()};
        }

        /** The memfd, for a test that maps a second side in this process. */
        public int memFd() {
            return memFd.fd();
        }

        /**
         * The client's link over this memory, ringing the server through {@code doorbell} (its end of the
         * connection the memory went on), which the link owns from now on. Once only.
         */
        public ShmLink link(Doorbell doorbell) {
            if (region == null) {
                doorbell.close();
                throw new IllegalStateException("the offer's memory went to a link already, or was closed");
            }
            MappedRegion r = region;
            region = null;
            return new ShmLink(true, r, doorbell, clientRing, serverRing);
        }

        /**
         * Closes this side's copy of the memfd (once sent, the server holds its own, and a link's mapping
         * keeps the memory alive here), and the mapping if no link took it.
         */
        @Override
        public void close() {
            Resources.closeQuietly(memFd, region);
            region = null;
        }
    }

    /** The descriptor that becomes readable when the peer rings this side (edge-triggered: see {@link #answerDoorbell()}). */
    public int doorbellFd() {
        return doorbell.fd();
    }

    /**
     * On each wake-up by the doorbell: now and then reads the peer's rings back ({@link Doorbell#answer()}).
     * False when the peer passed descriptors through it: a peer no vsocket is, whose link should go.
     */
    public boolean answerDoorbell() {
        return doorbell.answer();
    }

    /** Bytes this side may still write into the peer's ring. */
    @Override
    public int credit() throws RingProtocolException {
        takeConsumed();
        return usableCredit();
    }

    /** Takes the peer's read cursor (checked by the send cursor). */
    private void takeConsumed() throws RingProtocolException {
        long consumed = (long) LONG.getAcquire(memory, (long) tx + CONSUMER);
        // A reader that has not yet skipped the lap this side left stands where it was left: it has
        // read every byte up to that lap's end.
        sendCursor.consumed(consumed == restartedAt ? restartEnd : consumed);
    }

    /**
     * Before a write: where the peer has read and credited every byte (as last taken), mid-lap, with
     * nothing of the ring lent and no hole announced in the rest of the lap, leaves the rest of the
     * lap and goes on at the ring's start (see the class comment). The order of the looks matters:
     * the credit, then the lending flag, then the holes announced. A reader raises the flag before it
     * returns any credit past a loan, and announces the loan's hole before it lowers the flag: with
     * the flag down, every hole of a loan is among those announced, and no new loan can come while
     * nothing is unread.
     */
    private void restartLapIfEmpty() throws RingProtocolException {
        if (sendCursor.position() == 0 || sendCursor.credit() != sendCursor.capacity()) {
            return;
        }
        if (!peerTakesRestarts) {
            peerTakesRestarts = (int) INT.getAcquire(memory, (long) tx + TAKES_RESTARTS) == 1;
            if (!peerTakesRestarts) {
                return;
            }
        }
        if ((int) INT.getAcquire(memory, txHoles + HOLES_LENDING) != 0) {
            return;
        }
        takeHole();
        // Holes come in order: the next one at or past the lap's end leaves the rest of the lap free.
        // (One at the next lap's start is stepped over there, as any other.)
        if (txHoleStart < sendCursor.produced() + sendCursor.contiguous()) {
            return;
        }
        restartedAt = sendCursor.restartLap();
        restartEnd = sendCursor.produced();
        // Before the producer that passes it (publish's store-release).
        LONG.setRelease(memory, (long) tx + RESTARTED_AT, restartedAt);
    }

    /**
     * Credit after stepping over the holes at the send cursor: 0 while a hole there is not yet
     * covered whole (the cursor cannot stop inside one).
     */
    private int usableCredit() throws RingProtocolException {
        takeHole();
        while (sendCursor.produced() == txHoleStart) {
            int length = (int) (txHoleEnd - txHoleStart);
            if (sendCursor.credit() < length) {
                return 0;
            }
            sendCursor.advance(length);
            txLastHoleEnd = txHoleEnd;
            txHoleStart = Long.MAX_VALUE;
            // The reader must see the step too: it returns credit past a hole only once it has seen
            // the cursor pass it, and this side may be about to wait for that very credit.
            publish();
            takeHole();
        }
        return sendCursor.credit();
    }

    /** Takes the next hole the peer announced, if none is taken; checks it can be one. */
    private void takeHole() throws RingProtocolException {
        if (txHoleStart != Long.MAX_VALUE) {
            return;
        }
        long announced = (long) LONG.getAcquire(memory, txHoles + HOLES_ANNOUNCED);
        if (announced == holesTaken) {
            return;
        }
        if (announced < holesTaken || announced - holesTaken > LoanLedger.HOLE_SLOTS) {
            throw new RingProtocolException("peer announced an impossible hole count: " + announced + " after "
                    + holesTaken);
        }
        long entry = txHoles + HOLE_ENTRIES + (long) HOLE_ENTRY_SIZE * (int) (holesTaken % LoanLedger.HOLE_SLOTS);
        long start = (long) LONG.get(memory, entry);
        long end = (long) LONG.get(memory, entry + 8);
        if (start < sendCursor.produced() || start < txLastHoleEnd || end <= start
                || end - start > sendCursor.capacity() / 2) {
            throw new RingProtocolException("peer announced an impossible hole [" + start + ", " + end + ") with "
                    + sendCursor.produced() + " bytes sent, the last hole ending at " + txLastHoleEnd);
        }
        holesTaken++;
        txHoleStart = start;
        txHoleEnd = end;
    }

    /**
     * Copies up to {@code length} readable bytes of {@code buf} from {@code index} into the peer's
     * ring, as far as credit goes, without publishing them; returns the count.
     */
    @Override
    public int write(ByteBuf buf, int index, int length) throws RingProtocolException {
        if (length > 0) {
            restartLapIfEmpty(); // (the credit as the channel last asked for it)
        }
        int done = 0;
        while (done < length) {
            int room = usableCredit();
            if (room == 0) {
                break;
            }
            int chunk = Math.min(Math.min(length - done, room), publishQuantum);
            if (txHoleStart != Long.MAX_VALUE) {
                chunk = (int) Math.min(chunk, txHoleStart - sendCursor.produced());
            }
            RingCopy.in(sendCursor, txRing, buf, index + done, chunk);
            txRingTouched = true;
            done += chunk;
            if (done < length) {
                // A large write goes out a quarter ring at a time, so the reader copies one quarter
                // while this side copies the next.
                publish();
            }
        }
        return done;
    }

    /**
     * Lets {@code source} fill up to {@code length} bytes of the peer's ring, stretch by stretch as
     * far as credit goes (a stretch ends where the ring wraps, at a hole, or after a quarter ring),
     * without publishing the last; returns the count. A file source reads straight into the shared
     * ring (one copy, in the kernel); large fills publish each quarter ring as {@link #write(ByteBuf,
     * int, int)} does.
     */
    @Override
    public int write(RingSource source, int length) throws IOException {
        if (length > 0) {
            // The first stretch looks at the credit the peer returned since (the channel asks a
            // region's link for no credit figure first, as it does for a run of buffers).
            takeConsumed();
            restartLapIfEmpty();
        }
        int done = 0;
        while (done < length) {
            int room = usableCredit();
            if (room == 0) {
                break;
            }
            int chunk = Math.min(Math.min(length - done, room), publishQuantum);
            if (txHoleStart != Long.MAX_VALUE) {
                chunk = (int) Math.min(chunk, txHoleStart - sendCursor.produced());
            }
            int position = sendCursor.position();
            chunk = Math.min(chunk, sendCursor.contiguous());
            txRing.limit(position + chunk).position(position);
            int filled = source.fill(txRing);
            if (filled <= 0) {
                break;
            }
            assert filled <= chunk : filled + " bytes filled into a stretch of " + chunk;
            sendCursor.advance(filled);
            txRingTouched = true;
            done += filled;
            if (filled < chunk) {
                break; // the source has no more now
            }
            if (done < length) {
                publish();
            }
        }
        return done;
    }

    /** Makes everything written visible to the peer, ringing it if it sleeps. */
    @Override
    public void publish() {
        LONG.setRelease(memory, (long) tx + PRODUCER, sendCursor.produced());
        VarHandle.fullFence();
        ringIfParked(tx + RECEIVER_PARKED);
    }

    /** Unread bytes in this side's ring (holes the writer stepped over are not bytes). */
    @Override
    public int readable() throws RingProtocolException {
        long peerProduced = (long) LONG.getAcquire(memory, (long) rx + PRODUCER);
        if (receiveCursor.readable() == 0 && peerProduced != receiveCursor.consumed() && receiveCursor.position() != 0) {
            followRestart();
        }
        receiveCursor.produced(peerProduced);
        stepOverHoles();
        int unread = receiveCursor.readable();
        if (unread == 0 || ledger.pendingHoles() == 0) {
            return unread;
        }
        long produced = receiveCursor.consumed() + unread;
        long holes = ledger.holeBytesBefore(produced);
        if (holes < 0) {
            throw new RingProtocolException("peer wrote into a hole: its cursor stopped inside one, at " + produced);
        }
        return (int) (unread - holes);
    }

    /**
     * The producer moved while every byte was read, mid-lap: if the writer left the lap here (its
     * {@code restartedAt}, read after the producer that passed it), the cursor goes to the next lap's
     * start. The writer counts the skipped stretch as credited, so the credit to return does not grow.
     */
    private void followRestart() throws RingProtocolException {
        long at = receiveCursor.consumed();
        if ((long) LONG.get(memory, (long) rx + RESTARTED_AT) != at) {
            return;
        }
        long lapEnd = at + receiveCursor.capacity() - receiveCursor.position();
        if (ledger.lending() || ledger.nextHoleStart() < lapEnd) {
            throw new RingProtocolException("peer left its lap at " + at + " with bytes of the ring on loan or a hole"
                    + " before the lap's end");
        }
        long start = receiveCursor.restartLap();
        if (creditReturned == at) {
            creditReturned = start;
        }
    }

    /** Steps the receive cursor over the holes the writer has passed; a writer that wrote into one broke the protocol. */
    private void stepOverHoles() throws RingProtocolException {
        long produced = receiveCursor.consumed() + receiveCursor.readable();
        long start;
        while ((start = ledger.nextHoleStart()) < produced) {
            long end = ledger.nextHoleEnd();
            if (produced < end || receiveCursor.consumed() > start) {
                throw new RingProtocolException("peer wrote into a hole: [" + start + ", " + end + ") with its cursor at "
                        + produced + ", " + receiveCursor.consumed() + " read");
            }
            if (receiveCursor.consumed() < start) {
                return; // data before the hole comes first
            }
            receiveCursor.advance((int) (end - start));
            ledger.passHole();
        }
    }

    /** Unread bytes from the receive cursor before the ring wraps or a hole starts. */
    private int dataRun() {
        int run = receiveCursor.contiguous();
        long hole = ledger.nextHoleStart();
        return hole == Long.MAX_VALUE ? run : (int) Math.min(run, hole - receiveCursor.consumed());
    }

    /**
     * Copies up to {@code max} unread bytes into {@code dst} at {@code index} (its indexes do not
     * move); call {@link #readable()} first. Returns the count.
     */
    @Override
    public int read(ByteBuf dst, int index, int max) throws RingProtocolException {
        int done = 0;
        while (done < max) {
            stepOverHoles();
            int chunk = Math.min(Math.min(max - done, dataRun()), creditQuantum);
            if (chunk == 0) {
                break;
            }
            RingCopy.out(receiveCursor, rxRing, dst, index + done, chunk);
            done += chunk;
            // Credit back a quarter ring at a time: the writer refills while this side copies on.
            returnCredit();
        }
        if (done > 0 && receiveCursor.readable() == 0 && receiveCursor.position() >= drainedFrom && !ledger.lending()) {
            // Everything read, well into the lap: the cursor goes out now, not at the next quarter or
            // sleep, so that the writer finds the ring empty and restarts its lap — else a busy
            // connection of small messages (its loops spinning, never parking) would go round the
            // whole ring. A store alone: the credit return's handshake with a parked writer is still
            // the next returnCredit's or park's (creditReturned stays), and with nothing lent no
            // hole has to be announced first.
            LONG.setRelease(memory, (long) rx + CONSUMER, receiveCursor.consumed());
        }
        return done;
    }

    /**
     * Lets the event loop's thread lend stretches of the receive ring ({@link #lend}); returns that
     * come on other threads are handed to {@code loop}. Null while the link is off every loop (its
     * channel moving to another): returns wait in a queue, and the next loop takes them (called on
     * that loop's thread).
     */
    public void lendOn(EventExecutor loop) {
        this.loop = loop;
        if (loop != null) {
            drainReturns();
        }
    }

    /**
     * The unread bytes at the receive cursor as a buffer over the ring itself, without a copy, when
     * they are at least {@link #LEND_MIN} in one stretch and the loan bounds allow it; else null (copy
     * them with {@link #read}). The stretch comes back when the buffer is released.
     */
    public ByteBuf lend(ByteBufAllocator alloc) throws RingProtocolException {
        return lend(alloc, Integer.MAX_VALUE);
    }

    /** As {@link #lend(ByteBufAllocator)}, of {@code max} bytes at most (none when that is under {@link #LEND_MIN}). */
    public ByteBuf lend(ByteBufAllocator alloc, int max) throws RingProtocolException {
        if (loop == null || closed || max < LEND_MIN || readable() < LEND_MIN) {
            return null;
        }
        // A quarter ring at most, as reads copy: credit then comes back a quarter at a time, as each
        // loan is released, while the writer refills.
        int n = ledger.lendable(Math.min(Math.min(dataRun(), creditQuantum), max));
        if (n < LEND_MIN) {
            return null;
        }
        if (!ledger.lending()) {
            // Before any credit past the loan: the writer must not punch out the ring's pages under it.
            INT.setRelease(memory, rxHoles + HOLES_LENDING, 1);
        }
        long id = ledger.add(receiveCursor.consumed(), n);
        outstanding.incrementAndGet();
        ByteBuf loan;
        try {
            // A buffer of its own over the stretch, so that views of the loan keep the stretch lent.
            ByteBuffer stretch = memory.asSlice(rxRingOffset + receiveCursor.position(), n).asByteBuffer();
            loan = new RingLoan(alloc, stretch, () -> loanReturned(id));
        } catch (RuntimeException | Error e) {
            ledger.retire(id);
            outstanding.decrementAndGet();
            throw e;
        }
        bytesLent += n;
        // No credit back here: returned while the loan lives, it would cost a hole; the pipeline
        // mostly releases the loan before the next read or the next sleep, which return it.
        receiveCursor.advance(n);
        return loan;
    }

    /** Bytes handed to the pipeline as they lay in the ring, in all. */
    public long bytesLent() {
        return bytesLent;
    }

    /** Holes announced and not yet stepped over (for tests). */
    int pendingHoles() {
        return ledger.pendingHoles();
    }

    /** Loans not yet released. */
    public int loansOutstanding() {
        return outstanding.get() & ~LINK_CLOSED;
    }

    /** A loan's stretch came back (released, moved out, or collected), on whichever thread. */
    private void loanReturned(long id) {
        try {
            EventExecutor l = loop;
            if (l != null && l.inEventLoop()) {
                retire(id);
            } else {
                returnedElsewhere.offer(id);
                // Read again after the offer: a loop taking the link meanwhile either sees it in the
                // queue (lendOn drains) or is seen here.
                scheduleDrain(loop);
            }
        } finally {
            if (outstanding.decrementAndGet() == LINK_CLOSED) {
                unmap();
            }
        }
    }

    private void scheduleDrain(EventExecutor l) {
        if (l != null && drainScheduled.compareAndSet(false, true)) {
            try {
                l.execute(drainReturns);
            } catch (RejectedExecutionException e) {
                // The loop is gone, and the link with it: nothing is left to account for.
                drainScheduled.set(false);
            }
        }
    }

    private void drainReturns() {
        drainScheduled.set(false);
        EventExecutor l = loop;
        if (l == null || !l.inEventLoop()) {
            scheduleDrain(l); // the link left this loop since: its next one takes them
            return;
        }
        Long id;
        while ((id = returnedElsewhere.poll()) != null) {
            retire(id);
        }
    }

    private void retire(long id) {
        if (closed || !ledger.retire(id)) {
            return;
        }
        if (!ledger.lending()) {
            INT.setRelease(memory, rxHoles + HOLES_LENDING, 0);
        }
        returnCredit();
    }

    private void publishHole(long sequence, long start, long end) {
        long entry = rxHoles + HOLE_ENTRIES + (long) HOLE_ENTRY_SIZE * (int) (sequence % LoanLedger.HOLE_SLOTS);
        LONG.set(memory, entry, start);
        LONG.set(memory, entry + 8, end);
    }

    /** Drops every unread byte (the input was shut down) and returns the space as credit. */
    @Override
    public void discard() throws RingProtocolException {
        while (readable() > 0) {
            receiveCursor.advance(dataRun());
        }
        returnCreditNow();
    }

    /**
     * Returns the space read so far to the peer as credit once a quarter of the ring has been read
     * since the last return: credit in small slivers would have the sender write small slivers
     * (the silly window), each with a publish and a turn of both loops. {@link #park} returns the
     * rest before this side sleeps, so credit is never held by a sleeping reader.
     */
    public void returnCredit() {
        if (receiveCursor.consumed() - creditReturned >= creditQuantum) {
            returnCreditNow();
        }
    }

    /** Returns every byte read so far as credit, ringing the peer if it waits for credit. */
    public void returnCreditNow() {
        long consumed = receiveCursor.consumed();
        if (consumed == creditReturned) {
            return;
        }
        // Holes first: this credit may let the writer reach a live loan's bytes one lap on.
        if (ledger.announceBefore(consumed + receiveCursor.capacity(), holeSink) > 0) {
            LONG.setRelease(memory, rxHoles + HOLES_ANNOUNCED, ledger.announced());
        }
        creditReturned = consumed;
        LONG.setRelease(memory, (long) rx + CONSUMER, consumed);
        VarHandle.fullFence();
        ringIfParked(rx + SENDER_PARKED);
    }

    private void ringIfParked(int flag) {
        if ((int) INT.getVolatile(memory, (long) flag) != 0 && INT.compareAndSet(memory, (long) flag, 1, 0)) {
            doorbell.ring();
        }
    }

    /**
     * Before the loop blocks: asks to be rung on new data (when {@code reading}) and on returned
     * credit (when {@code waitingForCredit}). True when there is already something to do, in which
     * case the loop must not block.
     */
    public boolean park(boolean reading, boolean waitingForCredit) throws RingProtocolException {
        return park(reading, false, waitingForCredit);
    }

    /**
     * As {@link #park(boolean, boolean)}, and with {@code watchingEnd} also asks to be rung when
     * the peer ends its output, data or not (the end must be reported even to a channel that is
     * not reading, as epoll reports a hang-up).
     */
    public boolean park(boolean reading, boolean watchingEnd, boolean waitingForCredit) throws RingProtocolException {
        // Holes the writer stepped over count as read, reading or not: the writer may wait for their credit.
        readable();
        returnCreditNow();
        if (reading || watchingEnd) {
            receiverParked = true;
            INT.setVolatile(memory, (long) rx + RECEIVER_PARKED, 1);
        }
        if (waitingForCredit) {
            senderParked = true;
            INT.setVolatile(memory, (long) tx + SENDER_PARKED, 1);
        }
        VarHandle.fullFence();
        return reading && (readable() > 0 || peerOutputDone()) || watchingEnd && peerOutputDone()
                || waitingForCredit && credit() > 0;
    }

    /** Awake again: the peer need not ring while this side polls anyway. */
    public void unpark() {
        if (receiverParked) {
            receiverParked = false;
            INT.setRelease(memory, (long) rx + RECEIVER_PARKED, 0);
        }
        if (senderParked) {
            senderParked = false;
            INT.setRelease(memory, (long) tx + SENDER_PARKED, 0);
        }
    }

    /**
     * Gives the pages of the ring this side writes to back to the kernel, if it has written since
     * the last time and the peer has read (and credited) every byte: then neither side can be
     * looking at the ring, since only this side writes there and the peer reads only what this side
     * published and it has not yet credited. An idle connection so holds one page of shared memory
     * per side however large its rings; the next write faults fresh (zeroed) pages in. Returns true
     * when it released anything.
     */
    public boolean releaseIdleRing() throws RingProtocolException, NativeIoException {
        if (!txRingTouched || closed || credit() != sendCursor.capacity()
                || (int) INT.getAcquire(memory, txHoles + HOLES_LENDING) != 0) {
            return false; // unread bytes, or bytes the peer has lent out of it
        }
        region.release(txRingOffset, sendCursor.capacity());
        txRingTouched = false;
        return true;
    }

    /** This side will write no more: its output is shut down or it closes cleanly. */
    @Override
    public void markOutputDone() {
        if (!closed) {
            INT.setRelease(memory, (long) outputDone, 1);
            VarHandle.fullFence();
            ringUnlessPeerClosed(tx + RECEIVER_PARKED);
        }
    }

    /**
     * This side closes (cleanly or not): from now on the peer's writes fail, as writes to a TCP
     * socket whose peer has closed do. The peer is rung in case it waits for credit.
     */
    public void markClosed() {
        if (!closed) {
            INT.setRelease(memory, (long) closedFlag, 1);
            VarHandle.fullFence();
            ringUnlessPeerClosed(rx + SENDER_PARKED);
        }
    }

    /**
     * A close's ring: none to a peer that closed first, which reads nothing more (its doorbell is shut or
     * about to be; the ring would fail with {@code EPIPE}). The side that closes second saves a system
     * call on its close path, which a peer's end waits through before the channel goes inactive.
     */
    private void ringUnlessPeerClosed(int flag) {
        if (!peerClosed()) {
            ringIfParked(flag);
        }
    }

    /** The peer has closed: nothing written now would be read. */
    public boolean peerClosed() {
        return (int) INT.getAcquire(memory, (long) peerClosedFlag) != 0;
    }

    /** The peer said it will write no more; what is in the ring is all there is. */
    @Override
    public boolean peerOutputDone() {
        return (int) INT.getAcquire(memory, (long) peerOutputDone) != 0;
    }

    /** Shared memory does not fail on its own: a broken peer shows as a protocol error where it is read. */
    @Override
    public java.io.IOException failure() {
        return null;
    }

    /**
     * This side's stream leaves tcp after {@code bytes} and goes on in the ring: before its first byte
     * there (the hello as an upgrade).
     */
    public void announceTcpEnd(long bytes) {
        LONG.setRelease(memory, (long) tcpEnd, bytes + 1);
    }

    /** Where the peer's stream left tcp for the ring, or -1 while it still writes over tcp. */
    public long peerTcpEnd() throws RingProtocolException {
        long v = (long) LONG.getAcquire(memory, (long) peerTcpEnd);
        if (v < 0) {
            throw new RingProtocolException("the peer says its stream left tcp at byte " + (v - 1));
        }
        return v - 1;
    }

    /** The server has mapped the memory and watches its ring: the client may write there. */
    public void markAttached() {
        INT.setRelease(memory, (long) ATTACHED, 1);
    }

    /**
     * Whether the peer let go of the link without closing it ({@link #markClosed()}): its end of the
     * doorbell is closed, which the kernel does when its process ends. A peer that closes says so first.
     */
    public boolean peerDropped() {
        return !closed && !peerClosed() && doorbell.otherEndClosed();
    }

    /** Bytes this side wrote into the peer's ring that the peer has not taken yet. */
    public int unreadByPeer() throws RingProtocolException {
        takeConsumed();
        return sendCursor.capacity() - sendCursor.credit();
    }

    /** Whether the server has said {@link #markAttached()}. */
    public boolean peerAttached() {
        return (int) INT.getAcquire(memory, (long) ATTACHED) != 0;
    }

    /** Rings the peer's doorbell whether it sleeps or not (what it should look at is not in a ring). */
    public void signalPeer() {
        VarHandle.fullFence();
        if (!closed) {
            doorbell.ring();
        }
    }

    public int receiveRingSize() {
        return receiveCursor.capacity();
    }

    public int sendRingSize() {
        return sendCursor.capacity();
    }

    /**
     * Closes its end of the doorbell, and unmaps the rings once no loan is out: a buffer lent to the pipeline
     * stays readable after the channel closes, until it is released.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Resources.closeQuietly(doorbell);
        if (outstanding.getAndAdd(LINK_CLOSED) == 0) {
            unmap();
        }
    }

    private void unmap() {
        SharedArenaCloser.close(region); // (off the loop: a shared arena's close waits for every thread; see SharedArenaCloser)
    }
}
