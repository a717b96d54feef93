export { Vm, kernelReserved, type VmOptions, type MemoryKind } from './vm.js';
export { migrate, type MigrateOptions, type Migration } from './migrate.js';
export { runBalloonDemo } from './balloon-demo.js';
