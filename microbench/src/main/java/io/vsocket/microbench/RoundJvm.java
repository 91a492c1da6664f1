package io.vsocket.microbench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * One benchmark round in a JVM of its own (the comparisons' default: an application runs one
 * transport, and in one JVM the transports share Netty's and the frameworks' code and widen each
 * other's type profiles). The child is this JVM's own {@code java} with its options, but those that
 * would clash between the two or run twice: agents, JFR recordings and log files (they would write the
 * same file, or bind the same debug port), and what {@code JAVA_TOOL_OPTIONS} / {@code JDK_JAVA_OPTIONS}
 * add (the child reads them itself). {@code -Dio.vsocket.bench.childOptions="..."}: options for the
 * child alone (say, a profiler agent for one round).
 */
final class RoundJvm {
    /**
     * Whether each round runs in a JVM of its own (the default; {@code -Dio.vsocket.bench.fork=false}: all
     * in the one that compares, as before 2026-12-05), warmed on what it then measures.
     */
    static final boolean FORK = Boolean.parseBoolean(System.getProperty("io.vsocket.bench.fork", "true"));
    /** The argument that makes a comparison's {@code main} run one round, as a child. */
    static final String ONE = "--one";
    /** Prefixes the child's figures with, on a line of their own. */
    static final String RESULT = "round-result";

    private RoundJvm() {
    }

    /**
     * Runs {@code main} with {@code args} in a child JVM; every other line of its output goes to
     * {@code lines}. Returns the result line's figures (after {@link #RESULT}); fails if the child
     * failed or printed none.
     */
    static String[] run(Class<?> main, List<String> args, Consumer<String> lines) throws IOException, InterruptedException {
        return run(main, List.of(), args, lines);
    }

    /** As {@link #run(Class, List, Consumer)}, with {@code options} added to the child's JVM options. */
    static String[] run(Class<?> main, List<String> options, List<String> args, Consumer<String> lines)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> inherited = new ArrayList<>(ManagementFactory.getRuntimeMXBean().getInputArguments());
        for (String variable : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            String value = System.getenv(variable);
            if (value != null) {
                for (String option : value.trim().split("\\s+")) {
                    inherited.remove(option);
                }
            }
        }
        for (String option : inherited) {
            if (!clashes(option)) {
                command.add(option);
            }
        }
        String own = System.getProperty("io.vsocket.bench.childOptions", "").trim();
        if (!own.isEmpty()) {
            command.addAll(List.of(own.split("\\s+")));
        }
        command.addAll(options);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(args);
        Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
        String[] result = null;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                if (line.startsWith(RESULT + " ")) {
                    result = line.substring(RESULT.length() + 1).split(" ");
                } else {
                    lines.accept(line);
                }
            }
        }
        int status = child.waitFor();
        if (status != 0 || result == null) {
            throw new IllegalStateException(String.format(Locale.ROOT, "the round's JVM (%s %s) ended with status %d%s",
                    main.getSimpleName(), String.join(" ", args), status, result == null ? " and no result" : ""));
        }
        return result;
    }

    /** An option the child must not run again beside this JVM: an agent, a recording, a log file, a debug port. */
    private static boolean clashes(String option) {
        return option.startsWith("-agentpath:") || option.startsWith("-agentlib:") || option.startsWith("-javaagent:")
                || option.startsWith("-Xrunjdwp") || option.startsWith("-XX:StartFlightRecording")
                || option.startsWith("-XX:FlightRecorderOptions") || option.startsWith("-Xlog:") && option.contains("file=")
                || option.startsWith("-XX:+PrintCompilation");
    }
}
