package io.vsocket.testsuite.modules;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.io.IOException;
import java.lang.module.FindException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The transport as a module: its descriptor exports what applications use (the channels, the
 * allocator, the link names and errors) and nothing else, the bindings' module exports its packages
 * to the transport alone, and an application runs with vsocket and Netty on the module path.
 * Read from the jars the build made (the reactor's, on this test's class path).
 */
@Timeout(120)
class ModulePathTest {
    /** The jars that go on the module path: vsocket's three, Netty's, Agrona. */
    private static final List<String> MODULE_JARS = List.of("vsocket-transport-classes", "vsocket-transport-native",
            "vsocket-native-glue", "netty-transport-4", "netty-buffer", "netty-common", "netty-resolver-4", "agrona");

    private static List<Path> modulePath;
    private static List<Path> classPath;

    @BeforeAll
    static void splitTheClassPath() {
        modulePath = new ArrayList<>();
        classPath = new ArrayList<>();
        String cp = System.getProperty("vsocket.test.classpath", System.getProperty("java.class.path"));
        for (String entry : cp.split(File.pathSeparator)) {
            Path path = Path.of(entry);
            String name = path.getFileName().toString();
            boolean module = name.endsWith(".jar") && MODULE_JARS.stream().anyMatch(name::startsWith);
            (module ? modulePath : classPath).add(path);
        }
        // Built but not packaged (mvn test, an IDE): the transport's classes are directories, no jars.
        assumeTrue(Stream.of(cp.split(File.pathSeparator)).noneMatch(e -> e.replace('\\', '/')
                .matches(".*/(transport-classes|transport-native-vsocket)/target/classes/?")),
                "the transport's modules are directories here (not packaged): run with mvn verify");
        Set<String> found = modulePath.stream().map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        for (String jar : MODULE_JARS) {
            assertTrue(found.stream().anyMatch(f -> f.startsWith(jar)), jar + " jar on the class path: " + found);
        }
    }

    @Test
    void theTransportExportsItsApiAndNothingElse() {
        Map<String, ModuleDescriptor> modules = descriptors();
        ModuleDescriptor transport = modules.get("io.vsocket.transport");
        assertTrue(transport != null, "a module named io.vsocket.transport: " + modules.keySet());
        assertEquals(Set.of("io.vsocket.channel", "io.vsocket.buffer", "io.vsocket.link"), exported(transport, null));
        assertTrue(transport.packages().contains("io.vsocket.link.shm"), "the links are inside the module");
        assertTrue(transport.opens().isEmpty(), "nothing opened: " + transport.opens());
        ModuleDescriptor bindings = modules.get("io.vsocket.ffm");
        assertTrue(bindings != null, "a module named io.vsocket.ffm: " + modules.keySet());
        assertEquals(Set.of(), exported(bindings, null), "the bindings export nothing to everyone");
        assertEquals(Set.of("io.vsocket.ffm.ibverbs", "io.vsocket.ffm.libc", "io.vsocket.unix", "io.vsocket.verbs"),
                exported(bindings, "io.vsocket.transport"));
        assertTrue(modules.containsKey("io.vsocket.nativeglue"), "the native library's jar has a module name: "
                + modules.keySet());
    }

    @Test
    void anApplicationRunsWithVsocketOnTheModulePath() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = List.of(java, "--enable-native-access=io.vsocket.ffm",
                "--add-opens", "io.netty.transport/io.netty.channel=io.vsocket.transport",
                "--module-path", join(modulePath), "--add-modules", "io.vsocket.transport",
                "-cp", join(classPath), ModulePathApp.class.getName());
        Path output = Files.createTempFile("module-path-app", ".txt");
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                    .start();
            boolean ended = process.waitFor(90, TimeUnit.SECONDS);
            if (!ended) {
                process.destroyForcibly();
            }
            String text = Files.readString(output, StandardCharsets.UTF_8);
            assertTrue(ended, "the application ended:\n" + text);
            assertEquals(0, process.exitValue(), text);
            Map<String, String> said = new HashMap<>();
            text.lines().filter(l -> l.matches("[A-Za-z]+=.*")).forEach(l -> said.put(l.substring(0, l.indexOf('=')),
                    l.substring(l.indexOf('=') + 1)));
            assertEquals("io.vsocket.transport", said.get("module"), "served by the named module:\n" + text);
            assertEquals("true", said.get("exportsChannel"), text);
            assertEquals("false", said.get("exportsShm"), text);
            assertEquals("false", said.get("internalReachable"), "a link's class is out of the application's reach:\n"
                    + text);
            assertEquals("true", said.get("fileRegionAccess"), "the opened io.netty.channel reaches the transport:\n"
                    + text);
            assertEquals("true", said.get("factoryGroup"), "a MultiThreadIoEventLoopGroup of the exported factory:\n"
                    + text);
            assertEquals("over the module path", said.get("echoed"), text);
            assertEquals("SHM", said.get("link"), "the connection moved onto shm:\n" + text);
        } finally {
            Files.deleteIfExists(output);
        }
    }

    /**
     * A JVM that refuses native access ({@code --illegal-native-access=deny}, the default of JDKs to
     * come) fails at the first vsocket loop with the flag that lets vsocket work, for the module path
     * and for the class path, instead of the JDK's bare refusal.
     */
    @Test
    void withoutNativeAccessTheFailureNamesTheFlagToAdd() throws Exception {
        assumeTrue(Runtime.version().feature() >= 24, "--illegal-native-access came with JDK 24");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<Path> all = new ArrayList<>(modulePath);
        all.addAll(classPath);
        Map<List<String>, String> runs = Map.of(
                List.of(java, "--illegal-native-access=deny", "--module-path", join(modulePath), "--add-modules",
                        "io.vsocket.transport", "-cp", join(classPath), ModulePathApp.class.getName()),
                "--enable-native-access=io.vsocket.ffm",
                List.of(java, "--illegal-native-access=deny", "-cp", join(all), ModulePathApp.class.getName()),
                "--enable-native-access=ALL-UNNAMED");
        for (Map.Entry<List<String>, String> run : runs.entrySet()) {
            Path output = Files.createTempFile("native-access", ".txt");
            try {
                Process process = new ProcessBuilder(run.getKey()).redirectErrorStream(true)
                        .redirectOutput(output.toFile()).start();
                boolean ended = process.waitFor(60, TimeUnit.SECONDS);
                if (!ended) {
                    process.destroyForcibly();
                }
                String text = Files.readString(output, StandardCharsets.UTF_8);
                assertTrue(ended, "the application ended:\n" + text);
                assertTrue(process.exitValue() != 0, "it cannot run without native access:\n" + text);
                assertTrue(text.contains("start the JVM with " + run.getValue()), "the failure names the flag:\n" + text);
            } finally {
                Files.deleteIfExists(output);
            }
        }
    }

    private static Map<String, ModuleDescriptor> descriptors() {
        Map<String, ModuleDescriptor> all = new HashMap<>();
        try {
            for (ModuleReference ref : ModuleFinder.of(modulePath.toArray(Path[]::new)).findAll()) {
                all.put(ref.descriptor().name(), ref.descriptor());
            }
        } catch (FindException e) {
            // A vsocket jar from before the descriptors (an old install in the local repository, when
            // this module is built alone): build the transport's modules in the same run (-am).
            throw new AssertionError("a jar on the module path is no module: " + e.getMessage() + " (" + modulePath + ")", e);
        }
        return all;
    }

    /** The packages exported to everyone ({@code target} null) or to exactly {@code target}. */
    private static Set<String> exported(ModuleDescriptor module, String target) {
        Set<String> packages = new TreeSet<>();
        for (ModuleDescriptor.Exports e : module.exports()) {
            if (target == null ? !e.isQualified() : e.targets().equals(Set.of(target))) {
                packages.add(e.source());
            }
        }
        return packages;
    }

    private static String join(List<Path> paths) {
        return paths.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
    }
}
