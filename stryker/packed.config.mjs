import { mutationConfig } from './base.mjs';

// The packed virtqueue (issue 22) on both sides: its own score, apart from the folders it sits in.
export default {
  ...mutationConfig('packed'),
  mutate: ['src/virtio/packed-ring.ts', 'src/virtio/packed-chain.ts', 'src/virtio/packed-queue.ts', 'src/virtio/queue-state.ts', 'src/guest/packed-driver-queue.ts'],
};
