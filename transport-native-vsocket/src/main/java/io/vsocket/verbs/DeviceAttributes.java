package io.vsocket.verbs;

/** What {@code ibv_query_device} says of a device (the fields vsocket sizes its queues by). */
public record DeviceAttributes(String firmwareVersion, long nodeGuid, long systemImageGuid, int vendorId,
                               int vendorPartId, int hardwareVersion, int physicalPortCount, long maxMrSize,
                               int maxQp, int maxQpWr, int maxSge, int maxCq, int maxCqe, int maxMr,
                               int maxPd, int maxSrq, int maxSrqWr, int maxSrqSge, int maxAh,
                               int maxQpRdAtom, int deviceCapFlags) {
}
