package io.vsocket.microbench;

import io.vsocket.ffm.Downcalls;
import io.vsocket.ffm.glue.Glue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The cost of one FFM downcall into the glue, the unit every verbs call on the hot path pays:
 * a plain call, the critical linkage the post/poll/arm calls use, and the errno-capturing linkage
 * the set-up calls use, against the same addition in Java.
 *
 * <p>Run: {@code java -jar microbench/target/benchmarks.jar GlueDowncall}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class GlueDowncallBenchmark {
    private static final FunctionDescriptor ADD = FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG);
    private static final MethodHandle ADD_CRITICAL =
            Downcalls.criticalDowncall(Glue.lookup(), "glue", "vs_add", ADD);
    private static final MethodHandle ADD_CAPTURING_ERRNO =
            Downcalls.downcallCapturingErrno(Glue.lookup(), "glue", "vs_add", ADD);

    private long a = 40;
    private long b = 2;
    private Arena arena;
    private MemorySegment errno;

    @Setup
    public void setUp() {
        arena = Arena.ofConfined();
        errno = Downcalls.newErrnoState(arena);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public long javaAdd() {
        return a + b;
    }

    @Benchmark
    public void noop() {
        Glue.vs_noop();
    }

    @Benchmark
    public long add() {
        return Glue.vs_add(a, b);
    }

    @Benchmark
    public long addCritical() throws Throwable {
        return (long) ADD_CRITICAL.invokeExact(a, b);
    }

    @Benchmark
    public long addCapturingErrno() throws Throwable {
        return (long) ADD_CAPTURING_ERRNO.invokeExact(errno, a, b);
    }
}
