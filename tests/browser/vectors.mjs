// Shared by the node tests: the vectors made by make_vectors.py with the real protocol/
// code (FERNWARTUNG_VECTORS names the file pytest made; otherwise it is made here), and
// their JSON forms turned into the JS values the modules use.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { utf8 } from '../../relay/browser/static/js/bytes.js';
import { sha256 } from '../../relay/browser/static/vendor/noble-hashes/sha2.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const STATIC = join(ROOT, 'relay', 'browser', 'static');

function load() {
  let path = process.env.FERNWARTUNG_VECTORS;
  if (!path) {
    path = join(mkdtempSync(join(tmpdir(), 'fw-vectors-')), 'vectors.json');
    execFileSync('python3', [join(HERE, 'make_vectors.py'), path], {
      env: { ...process.env, PYTHONPATH: ROOT },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

export const vectors = load();

export { CONTROL_TYPES, fromJson, toJson } from './vectors-json.mjs';

/** python-spake2's test PRG (spake2/test/common.py): blocks of SHA256("prng-N-" + seed). */
export function PRG(seed) {
  let counter = 0;
  let buffer = new Uint8Array(0);
  return (count) => {
    while (buffer.length < count) {
      const block = sha256(new Uint8Array([...utf8(`prng-${counter++}-`), ...seed]));
      buffer = new Uint8Array([...buffer, ...block]);
    }
    const out = buffer.slice(0, count);
    buffer = buffer.slice(count);
    return out;
  };
}

/** A copy of `bytes` with one bit flipped at `index`. */
export function flipped(bytes, index) {
  const out = Uint8Array.from(bytes);
  out[index] ^= 0x01;
  return out;
}
