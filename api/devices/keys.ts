/**
 * Key rotation, as the route and the CLI (npm run keys) both do it, each act in the audit chain in
 * the same transaction as the change: re-wrapping every stored secret under the current
 * key-encryption key, and rolling one device's token and command key.
 */
import type { Database } from '../../db/client.ts';
import { keyring, type RewrapResult, rewrapKeys } from '../../db/keys.ts';
import { appendAudit } from '../audit/log.ts';
import { rollDeviceKey } from './store.ts';

/** Re-wraps what is under a previous KEK (or in plain text) under the current one. */
export async function rewrapAll(db: Database, actor: string): Promise<RewrapResult> {
  const ring = keyring(db);
  return db.transaction(async (tx) => {
    const result = await rewrapKeys(tx, ring);
    await appendAudit(tx, {
      actor,
      action: 'keys.rewrapped',
      subject: `kek:${ring.current.fingerprint}`,
      detail: {
        rewrapped: result.rewrapped,
        wrappedPlain: result.wrappedPlain,
        previous: ring.previous.map((k) => k.fingerprint),
      },
    });
    return result;
  });
}

/** A new token and command key for the device; null when it is unknown. */
export function rollDevice(
  db: Database,
  deviceId: string,
  actor: string,
  reason: string,
): Promise<{ token: string } | null> {
  return rollDeviceKey(db, deviceId, {
    withinTransaction: (tx) =>
      appendAudit(tx, {
        actor,
        action: 'device.key_rolled',
        subject: `device:${deviceId}`,
        detail: reason ? { reason } : {},
      }).then(() => {}),
  });
}

/**
 * Wraps command keys an older version stored in plain text (what migration 015 could not do, having
 * no key); the api runs it at start. Audited only when there was any.
 */
export async function wrapPlainKeys(db: Database): Promise<number> {
  const ring = keyring(db);
  return db.transaction(async (tx) => {
    const { wrappedPlain } = await rewrapKeys(tx, ring, { plainOnly: true });
    if (wrappedPlain > 0) {
      await appendAudit(tx, {
        actor: 'system',
        action: 'keys.wrapped',
        subject: `kek:${ring.current.fingerprint}`,
        detail: { wrappedPlain },
      });
    }
    return wrappedPlain;
  });
}
