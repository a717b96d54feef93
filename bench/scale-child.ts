/** Boot one idle guest of the size given in bytes and print its boot time and peak RSS as JSON. */
import { Vm } from '../src/sim/vm.js';

const ramBytes = Number(process.argv[2]);
const started = performance.now();
const vm = new Vm({ ramBytes, seed: 1, memory: 'compact' });
if (!vm.boot()) throw new Error('balloon probe failed');
const bootMs = performance.now() - started;
// One hint round over all free memory, as the first precopy round would ask for.
vm.device.startHinting();
vm.settle(1_000_000);
const hintMs = performance.now() - started - bootMs;
console.log(JSON.stringify({ bootMs, hintMs, heldPages: vm.driver.heldPages, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
