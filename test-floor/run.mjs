// Build the packages, then run floor.test.mjs on the oldest Node.js that `engines` allows,
// taken from the npm registry's `node` package (npx caches it after the first run).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const range = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(range)?.[1];
if (floor === undefined) throw new Error(`engines.node '${range}': expected a floor such as >=20.0.0`);
const version = floor.split('.').concat('0', '0').slice(0, 3).join('.');
const run = (command, args) => execFileSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, FREEHINT_NODE_FLOOR: version } });

run('npm', ['run', 'build']);
console.log(`\n— the tests of test-floor/ on Node.js ${version} —`);
run('npx', ['--yes', `node@${version}`, '--test', 'test-floor/floor.test.mjs']);
