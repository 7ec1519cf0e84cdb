/**
 * Bucket names for the JetStream engine. A bucket name is [-_A-Za-z0-9]+ (nats.js
 * validateBucket); realm names are WAMP URIs. A realm's bucket is `<prefix>_<realm>` with
 * [A-Za-z0-9-] kept and every other UTF-8 byte (the '_' and '.' included) written `_XX`
 * (upper-case hex): reversible, so two realms never share a bucket. The node-level meta
 * bucket (leases and will records) is `<prefix>__meta`, which no realm encodes to ('m' is
 * not a hex digit).
 */
const KEEP = /[A-Za-z0-9-]/;
const UTF8 = new TextEncoder();

export function realmBucket(prefix: string, realm: string): string {
  let out = `${prefix}_`;
  for (const byte of UTF8.encode(realm)) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && KEEP.test(ch) ? ch : `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function metaBucket(prefix: string): string {
  return `${prefix}__meta`;
}
