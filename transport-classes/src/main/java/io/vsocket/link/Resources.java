package io.vsocket.link;

/** Releasing several native resources at once, when only the first failure (if any) matters. */
public final class Resources {
    private Resources() {
    }

    /** Closes each non-null resource in order; a failure does not stop the rest, and is not thrown. */
    public static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable resource : resources) {
            if (resource != null) {
                try {
                    resource.close();
                } catch (Exception ignored) {
                    // closing on an error path or at the end: the failure worth reporting came earlier
                }
            }
        }
    }
}
