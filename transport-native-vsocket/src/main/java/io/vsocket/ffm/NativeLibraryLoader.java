package io.vsocket.ffm;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads a native library shipped in a jar under {@code META-INF/native/}, Netty's layout:
 * {@code lib<name>_<arch>.so}. The library is copied to a private temporary file, opened with
 * {@code dlopen} through {@link SymbolLookup#libraryLookup(Path, Arena)} for the life of the JVM,
 * and the file is deleted right away (the mapping stays valid).
 */
public final class NativeLibraryLoader {
    private NativeLibraryLoader() {
    }

    /** The architecture suffix Netty uses in native library names ({@code x86_64}, {@code aarch_64}). */
    public static String arch() {
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        return switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64" -> "aarch_64";
            default -> arch;
        };
    }

    /**
     * Opens {@code lib<name>_<arch>.so} from the class path.
     *
     * @throws UnsatisfiedLinkError when the resource is missing or {@code dlopen} refuses it; the
     *                              message says which, and {@code dlopen}'s reason is the cause
     */
    public static SymbolLookup load(String name, ClassLoader loader) {
        if (!System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux")) {
            throw new UnsatisfiedLinkError("lib" + name + " is only built for Linux, not " + System.getProperty("os.name"));
        }
        String file = "lib" + name + "_" + arch() + ".so";
        String resource = "META-INF/native/" + file;
        URL url = loader.getResource(resource);
        if (url == null) {
            throw new UnsatisfiedLinkError(resource + " is not on the class path (is the "
                    + "vsocket-native-glue jar for linux-" + arch() + " a dependency?)");
        }
        Path tmp = null;
        try (InputStream in = url.openStream()) {
            tmp = Files.createTempFile(name + "-", ".so");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return SymbolLookup.libraryLookup(tmp, Arena.global());
        } catch (IllegalCallerException e) {
            throw Downcalls.nativeAccessRefused(e);
        } catch (IOException | IllegalArgumentException e) {
            UnsatisfiedLinkError error = new UnsatisfiedLinkError("could not load " + resource + ": " + e.getMessage());
            error.initCause(e);
            throw error;
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the library is mapped already; a leftover temporary file is harmless
                }
            }
        }
    }
}
