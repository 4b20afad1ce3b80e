/**
 * Secrets at rest under a key-encryption key (KEK): AES-256-GCM with a fresh 96-bit nonce per wrap,
 * the KEK's fingerprint in the stored string so a row names the key that opens it, and the owner of
 * the secret (a device id) as associated data, so a wrapped key copied onto another row does not
 * open there. The KEK itself is never stored next to what it protects (docs/security.md).
 *
 * Stored form: `kw1$<fingerprint>$<nonce>$<ciphertext>$<tag>`, base64url parts.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** One key-encryption key: 32 bytes and the fingerprint rows name it by. */
export interface Kek {
  key: Buffer;
  fingerprint: string;
}

/** The key new wraps use, and older ones that still open rows during a rotation. */
export interface Keyring {
  current: Kek;
  previous: Kek[];
}

const FORMAT = /^kw1\$([0-9a-f]{16})\$([A-Za-z0-9_-]{16})\$([A-Za-z0-9_-]*)\$([A-Za-z0-9_-]{22})$/;

export class KeyUnwrapError extends Error {}

/**
 * A KEK as configured: 32 bytes written as 64 hex digits or as base64/base64url (`openssl rand
 * -base64 32`). Null for anything else, so a typo is a configuration error, not a weak key.
 */
export function parseKek(text: string): Kek | null {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t.replace(/=$/, ''), 'base64url');
  if (key?.length !== 32) return null;
  return kekOf(key);
}

export function kekOf(key: Buffer): Kek {
  // A fingerprint, not the key: a truncated hash under a fixed label, useless for decryption.
  const fingerprint = createHash('sha256')
    .update('kek-fingerprint v1\0')
    .update(key)
    .digest('hex')
    .slice(0, 16);
  return { key, fingerprint };
}

export function newKek(): Kek {
  return kekOf(randomBytes(32));
}

export function keyringOf(current: Kek, previous: Kek[] = []): Keyring {
  return { current, previous: previous.filter((k) => k.fingerprint !== current.fingerprint) };
}

export function wrapSecret(kek: Kek, secret: string, owner: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.key, nonce);
  cipher.setAAD(Buffer.from(owner, 'utf8'));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  const parts = [nonce, body, cipher.getAuthTag()].map((b) => b.toString('base64url'));
  return ['kw1', kek.fingerprint, ...parts].join('$');
}

/** The fingerprint of the KEK a stored secret is wrapped under; null when it is not wrapped. */
export function wrappedUnder(stored: string): string | null {
  return FORMAT.exec(stored)?.[1] ?? null;
}

/** Opens a wrapped secret with whichever key of the ring it names; throws KeyUnwrapError otherwise. */
export function unwrapSecret(ring: Keyring, stored: string, owner: string): string {
  const m = FORMAT.exec(stored);
  if (!m) throw new KeyUnwrapError(`${owner}: the stored key is not wrapped`);
  const [, fingerprint, nonce, body, tag] = m as unknown as [string, string, string, string, string];
  const kek = [ring.current, ...ring.previous].find((k) => k.fingerprint === fingerprint);
  if (!kek) {
    throw new KeyUnwrapError(
      `${owner}: wrapped under key-encryption key ${fingerprint}, which is not configured (current ${ring.current.fingerprint})`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(owner, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    throw new KeyUnwrapError(`${owner}: the stored key does not open (altered, or moved from another row)`);
  }
}
