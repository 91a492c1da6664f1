package io.vsocket.ffm;

import io.vsocket.ffm.glue.Glue;
import io.vsocket.ffm.glue.vs_layout_entry;
import io.vsocket.ffm.ibverbs.Ibverbs;
import io.vsocket.ffm.ibverbs.ibv_wc;
import io.vsocket.ffm.libc.LibC;
import io.vsocket.verbs.PortState;
import io.vsocket.verbs.QpState;
import io.vsocket.verbs.WcStatus;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Proves every Java struct layout and constant against the installed headers: the glue's probe
 * table holds sizeof/offsetof/values that gcc computed from {@code <infiniband/verbs.h>},
 * {@code <sys/epoll.h>} and friends, and each row must equal what the Java side uses. Conversely
 * every named member of every struct class must have a row, so nothing the Java side reads goes
 * unproven.
 */
class LayoutProbeTest {
    private static final List<String> STRUCT_PACKAGES = List.of(
            "io.vsocket.ffm.ibverbs", "io.vsocket.ffm.glue", "io.vsocket.ffm.libc");

    private static final Map<String, Long> PROBE = new LinkedHashMap<>();

    @BeforeAll
    static void readProbe() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int n = Glue.vs_layout_probe(out);
            MemorySegment table = out.get(ADDRESS, 0).reinterpret(n * vs_layout_entry.sizeof());
            for (int i = 0; i < n; i++) {
                MemorySegment row = table.asSlice(i * vs_layout_entry.sizeof(), vs_layout_entry.LAYOUT);
                String name = vs_layout_entry.name(row).reinterpret(Long.MAX_VALUE).getString(0);
                PROBE.put(name, vs_layout_entry.value(row));
            }
        }
        assertTrue(PROBE.size() > 200, "probe table too small: " + PROBE.size());
    }

    @Test
    void everyProbedSizeAndOffsetMatchesTheJavaLayout() throws Exception {
        List<String> mismatches = new ArrayList<>();
        int checked = 0;
        for (Map.Entry<String, Long> row : PROBE.entrySet()) {
            String name = row.getKey();
            if (name.startsWith("#")) {
                continue;
            }
            String[] path = name.split("\\.");
            GroupLayout layout = layoutOf(path[0]);
            long actual;
            if (path.length == 1) {
                actual = layout.byteSize();
            } else {
                MemoryLayout.PathElement[] elements = new MemoryLayout.PathElement[path.length - 1];
                for (int i = 1; i < path.length; i++) {
                    elements[i - 1] = groupElement(path[i]);
                }
                try {
                    actual = layout.byteOffset(elements);
                } catch (IllegalArgumentException e) {
                    mismatches.add(name + ": not in the Java layout");
                    continue;
                }
            }
            checked++;
            if (actual != row.getValue()) {
                mismatches.add(name + ": C says " + row.getValue() + ", Java says " + actual);
            }
        }
        assertEquals(List.of(), mismatches);
        assertTrue(checked > 150, "only " + checked + " rows checked");
    }

    @Test
    void everyNamedJavaMemberIsProbed() throws Exception {
        List<String> unproven = new ArrayList<>();
        List<String> structs = structClassNames();
        assertTrue(structs.contains("ibv_send_wr") && structs.contains("vs_completion") && structs.contains("epoll_event"),
                "struct classes not found: " + structs);
        for (String struct : structs) {
            GroupLayout layout = layoutOf(struct);
            for (MemoryLayout member : layout.memberLayouts()) {
                if (member instanceof PaddingLayout) {
                    continue;
                }
                String row = struct + "." + member.name().orElseThrow();
                if (!PROBE.containsKey(row)) {
                    unproven.add(row);
                }
            }
        }
        assertEquals(List.of(), unproven, "Java struct members the probe does not cover");
    }

    @Test
    void everyJavaConstantMatchesTheHeaders() throws IllegalAccessException {
        List<String> mismatches = new ArrayList<>();
        int checked = 0;
        for (Class<?> holder : List.of(Ibverbs.class, LibC.class)) {
            for (Field f : holder.getDeclaredFields()) {
                int m = f.getModifiers();
                if (Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m) && f.getType() == int.class) {
                    checked++;
                    compare("#" + f.getName(), f.getInt(null), mismatches);
                }
            }
        }
        compare("#VS_GLUE_ABI_VERSION", Glue.ABI_VERSION, mismatches);
        for (WcStatus s : WcStatus.values()) {
            compare("#" + s.cName(), s.code(), mismatches);
        }
        for (PortState s : PortState.values()) {
            compare("#IBV_PORT_" + s.name(), s.code(), mismatches);
        }
        for (QpState s : QpState.values()) {
            if (s != QpState.UNKNOWN) {
                compare("#IBV_QPS_" + s.name(), s.code(), mismatches);
            }
        }
        assertEquals(List.of(), mismatches);
        assertTrue(checked > 80, "only " + checked + " constants checked");
    }

    @Test
    void aMisplacedFieldWouldBeCaught() {
        // The comparison above is only worth something if a wrong offset differs: wc_flags sits after
        // src_qp, so a layout that dropped a field would move it.
        assertEquals(PROBE.get("ibv_wc.wc_flags"), ibv_wc.wc_flags$OFFSET);
        assertTrue(PROBE.get("ibv_wc.wc_flags") != PROBE.get("ibv_wc.src_qp"));
    }

    /** Constants are C ints or unsigned ints; Java holds them as int, so compare the 32-bit patterns. */
    private static void compare(String row, int javaValue, List<String> mismatches) {
        Long c = PROBE.get(row);
        if (c == null) {
            mismatches.add(row + ": not probed");
        } else if (c < Integer.MIN_VALUE || c > 0xFFFF_FFFFL || (int) c.longValue() != javaValue) {
            mismatches.add(row + ": C says " + c + ", Java says " + javaValue);
        }
    }

    private static GroupLayout layoutOf(String struct) throws ReflectiveOperationException {
        for (String pkg : STRUCT_PACKAGES) {
            try {
                Class<?> c = Class.forName(pkg + "." + struct);
                return (GroupLayout) c.getField("LAYOUT").get(null);
            } catch (ClassNotFoundException ignored) {
                // try the next package
            }
        }
        fail("no Java struct class for " + struct);
        return null;
    }

    /** The struct classes in the binding packages: lower-case class names, as jextract names them. */
    private static List<String> structClassNames() throws IOException, URISyntaxException {
        Path root = Path.of(Glue.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        TreeSet<String> names = new TreeSet<>();
        for (String pkg : STRUCT_PACKAGES) {
            Path dir = root.resolve(pkg.replace('.', '/'));
            try (Stream<Path> files = Files.list(dir)) {
                files.map(p -> p.getFileName().toString())
                        .filter(n -> n.endsWith(".class") && !n.contains("$") && Character.isLowerCase(n.charAt(0)))
                        .forEach(n -> names.add(n.substring(0, n.length() - ".class".length())));
            }
        }
        return new ArrayList<>(names);
    }
}
