/**
 * The api app alone (no broker, no listener) on a migrated scratch database, for tests that call
 * routes with inject. A scratch database (test/support/engines.ts): embedded PGlite by default,
 * PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type AppOptions, buildApp } from '../../api/app.ts';
import type { ScryptCost } from '../../api/auth/password.ts';
import { type Auth, createAuth } from '../../api/auth/service.ts';
import type { LoginThrottleSettings } from '../../api/auth/throttle.ts';
import { createTokens, type Tokens } from '../../api/auth/tokens.ts';
import type { Database } from '../../db/client.ts';
import { scratchDatabase } from './engines.ts';

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  auth: Auth;
  tokens: Tokens;
  /** The secret the tokens are signed with, for tests that forge or tamper with tokens. */
  secret: string;
  close(): Promise<void>;
}

export async function startTestApp(
  options: Partial<AppOptions> & {
    ttlSeconds?: number;
    throttle?: LoginThrottleSettings;
    passwordCost?: ScryptCost;
  } = {},
): Promise<TestApp> {
  const { ttlSeconds, throttle, passwordCost, ...appOptions } = options;
  const scratch = await scratchDatabase();
  const db = await scratch.open();
  try {
    const secret = randomBytes(32).toString('base64url');
    const tokens = createTokens({ secret, ttlSeconds: ttlSeconds ?? 3600 });
    const auth = createAuth(db, tokens, { throttle, passwordCost });
    const app = await buildApp({
      db,
      auth,
      logger: pino({ level: 'silent' }),
      health: {
        broker: () => ({ connected: true, embedded: true }),
        database: async () => ({ ok: true, engine: db.engine }),
      },
      ...appOptions,
    });
    await app.ready();
    return {
      app,
      db,
      auth,
      tokens,
      secret,
      async close() {
        await app.close();
        await db.close();
        await scratch.drop();
      },
    };
  } catch (e) {
    await db.close();
    await scratch.drop();
    throw e;
  }
}
