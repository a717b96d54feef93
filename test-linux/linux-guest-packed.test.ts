import { BALLOON, describeBalloonChecks } from './balloon-checks.js';

// The same checks with a device that offers VIRTIO_F_RING_PACKED: Debian's virtio_ring takes it
// (a virtio 1.x device on a transport that supports it), so every queue is a packed ring.
describeBalloonChecks("Debian's virtio_balloon driver against freehint's device over packed virtqueues", { ...BALLOON, packedRing: true });
