package io.vsocket.testsuite.link;

import io.vsocket.link.VSocketLink;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/** {@link WriteThenCloseTest} on the rdma link, in the SoftRoCE VM over rxe0. */
@Tag("softroce")
@Timeout(300)
class RdmaWriteThenCloseTest extends WriteThenCloseTest {
    @Override
    VSocketLink link() {
        return VSocketLink.RDMA;
    }

    @Override
    String address() {
        return RdmaChannelTest.ADDRESS;
    }

    @Override
    int helloTimeoutMillis() {
        return 20_000; // a cold JVM's first rdma hello in the VM took over 2 s
    }
}
