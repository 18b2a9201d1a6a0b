// Builds the batched UDP reader (native/udp_recvmmsg.c) into build/native/udp_recvmmsg.node with
// the C compiler and the headers of the Node.js that runs this script. Run by `npm install` /
// `npm ci` (postinstall). Linux only. A machine without a compiler or Node's headers still gets a
// working bridge: it reads UDP with Node's dgram (ingest.udp.reader: auto) and says so at start.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'udp_recvmmsg.c');
const out = join(root, 'build', 'native', 'udp_recvmmsg.node');

function headers() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(process.execPath), '..', 'include', 'node'),
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
}

function skip(why) {
  console.warn(`ptim-bridge: batched UDP reads not built (${why}); the bridge reads UDP with Node's dgram instead`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`recvmmsg is Linux only, this is ${process.platform}`);
const include = headers();
if (!include) skip("Node's headers (node_api.h, uv.h) not found");
mkdirSync(dirname(out), { recursive: true });
const cc = process.env.CC || 'cc';
const args = [
  '-O2',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Wno-unused-parameter',
  '-shared',
  '-fPIC',
  '-I',
  include,
  '-o',
  out,
  source,
];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error) skip(`${cc}: ${r.error.message}`);
if (r.status !== 0) skip(`${cc} exited with ${r.status}`);
console.log(`ptim-bridge: built ${out}`);
