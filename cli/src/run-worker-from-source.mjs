// The run pool's worker when the command line runs from source: worker threads do not inherit
// the TypeScript loader, so register it here before loading the worker itself.
import { register } from 'tsx/esm/api';

register();
const { default: runTask } = await import('./run-worker.ts');
export default runTask;
