package io.vsocket;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The transport's packages stay in layers, so that the tree tells the architecture and a link can be
 * added or changed without touching what sits below it: the FFM bindings at the bottom; the buffers,
 * the stream protocol and the event loop above them; the links above those (what every link shares
 * in {@code link}, each link in its own package, none knowing another); the hello and the datagram
 * path above the links; the channels on top. And no package depends on another that depends back on
 * it, however far round.
 */
class PackageLayersTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importTheTransport() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.vsocket");
        // Both modules' classes must be there (the bindings come from the native module, a directory
        // or a jar), or the rules below prove nothing.
        assertTrue(hasPackage("io.vsocket.channel"), "transport classes imported");
        assertTrue(hasPackage("io.vsocket.link.rdma"), "rdma link classes imported");
        assertTrue(hasPackage("io.vsocket.verbs"), "bindings imported");
    }

    private static boolean hasPackage(String name) {
        return classes.stream().anyMatch(c -> c.getPackageName().equals(name));
    }

    @Test
    void noPackageDependsOnItselfThroughOthers() {
        slices().matching("io.vsocket.(**)").should().beFreeOfCycles().check(classes);
    }

    @Test
    void eachLayerUsesOnlyTheLayersBelowIt() {
        ArchRule layers = layeredArchitecture()
                .consideringOnlyDependenciesInLayers()
                .layer("bindings").definedBy("io.vsocket.ffm..", "io.vsocket.unix..", "io.vsocket.verbs..")
                .layer("buffer").definedBy("io.vsocket.buffer..")
                .layer("stream").definedBy("io.vsocket.stream..")
                .layer("loop").definedBy("io.vsocket.loop..")
                .layer("links").definedBy("io.vsocket.link..")
                .layer("hello").definedBy("io.vsocket.handshake..")
                .layer("datagram").definedBy("io.vsocket.datagram..")
                .layer("channels").definedBy("io.vsocket.channel..")
                .whereLayer("channels").mayNotBeAccessedByAnyLayer()
                .whereLayer("hello").mayOnlyBeAccessedByLayers("channels")
                .whereLayer("datagram").mayOnlyBeAccessedByLayers("channels")
                .whereLayer("links").mayOnlyBeAccessedByLayers("hello", "datagram", "channels")
                .whereLayer("loop").mayOnlyBeAccessedByLayers("links", "hello", "datagram", "channels")
                .whereLayer("stream").mayOnlyBeAccessedByLayers("links", "hello", "datagram", "channels")
                .whereLayer("buffer").mayOnlyBeAccessedByLayers("links", "hello", "datagram", "channels");
        layers.check(classes);
    }

    @Test
    void whatTheLinksShareKnowsNoParticularLink() {
        noClasses().that().resideInAPackage("io.vsocket.link")
                .should().dependOnClassesThat().resideInAnyPackage("io.vsocket.link.shm..", "io.vsocket.link.rdma..")
                .check(classes);
    }

    @Test
    void noLinkKnowsAnother() {
        noClasses().that().resideInAPackage("io.vsocket.link.shm..")
                .should().dependOnClassesThat().resideInAPackage("io.vsocket.link.rdma..")
                .check(classes);
        noClasses().that().resideInAPackage("io.vsocket.link.rdma..")
                .should().dependOnClassesThat().resideInAPackage("io.vsocket.link.shm..")
                .check(classes);
    }

    @Test
    void theBindingsKnowNothingOfTheTransport() {
        noClasses().that().resideInAnyPackage("io.vsocket.ffm..", "io.vsocket.unix..", "io.vsocket.verbs..")
                .should().dependOnClassesThat().resideInAnyPackage("io.vsocket.buffer..", "io.vsocket.stream..",
                        "io.vsocket.loop..", "io.vsocket.link..", "io.vsocket.handshake..", "io.vsocket.datagram..",
                        "io.vsocket.channel..")
                .check(classes);
    }
}
