// Random identifiers without node:crypto, which a cluster primary otherwise never loads (~0.6 MB
// of RSS). They name things (service.instance.id), they protect nothing: Math.random is what the
// SDK's own trace and span ids come from.

/**
 * The RFC 4122 layout of 32 hex digits with `version` (4: random, 5: name-based) in the 13th
 * digit and the variant (10xx) in the 17th.
 */
export function uuidFromHex(hex: string, version: 4 | 5): string {
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${version}${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A random RFC 4122 version 4 UUID, e.g. `3b241101-e2bb-4255-8caf-4136c566a962`. */
export function randomUuid(): string {
  let hex = '';
  for (let i = 0; i < 4; i++)
    hex += Math.floor(Math.random() * 0x1_0000_0000)
      .toString(16)
      .padStart(8, '0');
  return uuidFromHex(hex, 4);
}

/**
 * A short, stable, non-cryptographic digest of `text` as 16 hex digits: FNV-1a (32 bits) from
 * two offset bases. For cache keys and "already said" markers, never for anything an attacker
 * could exploit by choosing colliding input.
 */
export function digest(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (
    (a >>> 0).toString(16).padStart(8, '0') +
    (b >>> 0).toString(16).padStart(8, '0')
  );
}
