package io.vsocket.microbench;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The application benchmark's scenarios run on vsocket as the README's commands run them (briefly, in this JVM):
 * every reply is checked as it is measured (its length; a wrong or failed one ends the scenario with an
 * exception), so a scenario that broke — a framework's upgrade, an integration's change — fails here rather
 * than in the next session's figures. The stock {@code redis-server} scenarios are left out: the Lettuce
 * integration's own tests ({@code VSocketRedisClientTest}) run Lettuce on vsocket against that server.
 */
class AppComparisonTest {
    private static final AppComparison.Transport VSOCKET = new AppComparison.VSocket("vsocket", null);

    @ParameterizedTest
    @ValueSource(strings = {"grpc-unary", "grpc-pingpong", "grpc-pp-direct", "http-get", "http2-get", "http-post",
            "http-get-newconn", "redis-get", "redis-set",
            "grpc-unary-load", "http-get-load", "http-get-load-tcp", "redis-get-load"})
    void aScenarioServesCheckedRepliesOnVSocket(String scenario) throws Exception {
        AppComparison.Result result = AppComparison.run(scenario, VSOCKET, 0.3);
        assertTrue(result.requests() > 0, scenario + " measured no request: " + result);
        assertTrue(result.cpuSecondsPer10k() > 0 && result.p50Micros() > 0, scenario + ": " + result);
    }
}
