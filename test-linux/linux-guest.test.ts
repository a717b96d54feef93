import { BALLOON, describeBalloonChecks } from './balloon-checks.js';

// Debian's virtio_balloon driver against freehint's balloon over split virtqueues (the device
// does not offer VIRTIO_F_RING_PACKED, as QEMU's default).
describeBalloonChecks("Debian's virtio_balloon driver against freehint's device", BALLOON);
