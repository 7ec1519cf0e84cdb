import { readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** The version in package.json: this module runs from the source tree (tsx) or from dist/lib/. */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  for (const file of [path.join(__dirname, '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'gatehouse-router' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not this one: try the next place
    }
  }
  return (cached = 'unknown');
}
