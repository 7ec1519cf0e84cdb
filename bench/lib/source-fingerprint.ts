// Which router sources a benchmark measured: the tree changes under concurrent work, so
// each report names a hash of them.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** A fingerprint of the router sources measured: the tree changes under concurrent work. */
export function sourceFingerprint(): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(ROOT, rel);
    if (statSync(abs).isDirectory()) {
      for (const f of readdirSync(abs).sort()) walk(join(rel, f));
    } else if (rel.endsWith('.ts') || rel.endsWith('.json')) {
      h.update(rel).update('\0').update(readFileSync(abs)).update('\0');
    }
  };
  for (const top of ['index.ts', 'lib', 'gates', 'schemas']) walk(top);
  return h.digest('hex').slice(0, 12);
}
