/**
 * vsocket's bindings to the C libraries (libc, libibverbs, the glue library) through the foreign
 * function and memory API. Not an API of its own: its packages are exported to the transport only.
 * Its native calls need {@code --enable-native-access=io.vsocket.ffm} on the module path
 * ({@code ALL-UNNAMED} on the class path), as any FFM library's do.
 */
module io.vsocket.ffm {
    exports io.vsocket.ffm.ibverbs to io.vsocket.transport;
    exports io.vsocket.ffm.libc to io.vsocket.transport;
    exports io.vsocket.unix to io.vsocket.transport;
    exports io.vsocket.verbs to io.vsocket.transport;
}
