package io.vsocket.testsuite.softroce.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.testsuite.transport.TestsuitePermutation;
import io.netty.testsuite.transport.socket.DatagramUnicastInetTest;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vsocket.channel.VSocketChannelOption;
import io.vsocket.channel.VSocketDatagramChannel;
import io.vsocket.channel.VSocketEventLoopGroup;
import org.junit.jupiter.api.Tag;

import java.net.SocketAddress;
import java.util.List;

/**
 * Netty's {@link DatagramUnicastInetTest} on rxe0's address in the SoftRoCE VM: vsocket datagram
 * channels with UD queue pairs, with each other (UD required: every datagram of a bound channel
 * goes over UD, waiting for the peer's resolution first) and against NIO each way (a plain peer:
 * UDP, after one resolution request that goes unanswered). The connect
 * classes (DatagramConnectNotExistsTest, DatagramConnectedWriteExceptionTest) are not repeated here:
 * they bind and connect to loopback, which no RDMA device serves, so they would test nothing the
 * native run does not.
 */
@Tag("softroce")
class RdmaDatagramUnicastTest extends DatagramUnicastInetTest {
    private static final EventLoopGroup GROUP = new VSocketEventLoopGroup(2, new DefaultThreadFactory("testsuite-ud", true));
    private static final EventLoopGroup NIO = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("testsuite-ud-nio", true),
            NioIoHandler.newFactory());

    @Override
    protected List<TestsuitePermutation.BootstrapComboFactory<Bootstrap, Bootstrap>> newFactories() {
        TestsuitePermutation.BootstrapFactory<Bootstrap> vsocket =
                () -> new Bootstrap().group(GROUP).channel(VSocketDatagramChannel.class);
        // Between vsocket channels UD is required: a bound channel's datagrams wait for the peer's
        // resolution rather than go over UDP, so a green run proves UD carried them (an unbound
        // client, as in testSimpleSendWithoutBind, has no endpoint and still uses UDP).
        TestsuitePermutation.BootstrapFactory<Bootstrap> pinned = () -> new Bootstrap().group(GROUP)
                .channel(VSocketDatagramChannel.class).option(VSocketChannelOption.DATAGRAM_UD_REQUIRED, true);
        TestsuitePermutation.BootstrapFactory<Bootstrap> nio = () -> new Bootstrap().group(NIO)
                .channelFactory(new ChannelFactory<Channel>() {
                    @Override
                    public Channel newChannel() {
                        return new NioDatagramChannel();
                    }
                });
        return List.of(combo("vsocket-vsocket (UD required)", pinned, pinned), combo("vsocket-nio", vsocket, nio),
                combo("nio-vsocket", nio, vsocket));
    }

    private static TestsuitePermutation.BootstrapComboFactory<Bootstrap, Bootstrap> combo(String name,
            TestsuitePermutation.BootstrapFactory<Bootstrap> server, TestsuitePermutation.BootstrapFactory<Bootstrap> client) {
        return new TestsuitePermutation.BootstrapComboFactory<>() {
            @Override
            public Bootstrap newServerInstance() {
                return server.newInstance();
            }

            @Override
            public Bootstrap newClientInstance() {
                return client.newInstance();
            }

            @Override
            public String toString() {
                return name;
            }
        };
    }

    @Override
    protected SocketAddress newSocketAddress() {
        return RdmaTestPermutation.address();
    }
}
