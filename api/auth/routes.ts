import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { ROLES, type Role } from '../../shared/roles.ts';
import { SCOPE_KINDS } from '../../shared/scope.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { bearerToken } from './access.ts';
import type { Auth } from './service.ts';
import { LoginThrottledError } from './throttle.ts';

/** The body of the admin's acts on one user name (unlock, revoke). */
const usernameBody = {
  type: 'object',
  required: ['username'],
  additionalProperties: false,
  properties: { username: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const userSchema = {
  type: 'object',
  required: ['id', 'username', 'name', 'roles'],
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    name: { type: 'string' },
    roles: { type: 'array', items: { type: 'string', enum: [...ROLES] } },
    scope: {
      type: 'object',
      required: ['kind'],
      properties: {
        kind: { type: 'string', enum: [...SCOPE_KINDS] },
        dealerIds: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const;

const messageSchema = { type: 'object', required: ['message'], properties: { message: { type: 'string' } } };

export const authRoutes: FastifyPluginAsync<{ auth: Auth }> = async (app, { auth }) => {
  app.post<{ Body: { username: string; password: string } }>(
    '/auth/login',
    {
      config: { access: 'public', limit: 'signIn' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in: user name and password for a bearer token (JWT) with its expiry',
        description:
          'After too many failed sign-ins for a user name, or from one address, within a window ' +
          '(LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_ADDRESS, LOGIN_FAILURE_WINDOW) further attempts ' +
          'get 429 with Retry-After (seconds), whatever the password, until the oldest of those ' +
          'failures leaves the window. A successful sign-in starts the user name count again.',
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 200 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['token', 'user', 'expiresAt'],
            properties: {
              token: { type: 'string' },
              user: userSchema,
              expiresAt: { type: 'string', format: 'date-time' },
            },
          },
          401: messageSchema,
          429: {
            ...messageSchema,
            description:
              'too many failed sign-ins; the Retry-After header says in how many seconds to try again',
          },
        },
      },
    },
    async (request, reply) => {
      let result: Awaited<ReturnType<Auth['login']>>;
      try {
        result = await auth.login(request.body.username, request.body.password, {
          // The connection's address; proxies in front are accounted for by LOGIN_PROXY_HOPS.
          remoteAddress: request.socket.remoteAddress,
          forwardedFor: request.headers['x-forwarded-for'],
        });
      } catch (e) {
        if (!(e instanceof LoginThrottledError)) throw e;
        return reply
          .status(429)
          .header('retry-after', String(e.retryAfterSeconds))
          .send({ message: e.message });
      }
      if (!result) return reply.status(401).send({ message: 'wrong username or password' });
      return { ...result, expiresAt: result.expiresAt.toISOString() };
    },
  );

  app.get(
    '/auth/me',
    {
      config: { access: [...ROLES] as Role[] },
      schema: { tags: ['auth'], summary: 'Who the bearer token belongs to', response: { 200: userSchema } },
    },
    async (request) => request.user,
  );

  app.post<{ Body: { username: string } }>(
    '/auth/unlock',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['auth'],
        summary: "Lift a user name's sign-in lock now, before its failures age out (admin)",
        description:
          'The failures stop counting for the user name, as after a successful sign-in; they still ' +
          'count for their client addresses. Recorded in the audit log as auth.unlock. Unknown ' +
          'names are accepted like known ones (they are counted and locked the same way).',
        body: usernameBody,
        response: {
          200: {
            type: 'object',
            required: ['username', 'failures'],
            properties: {
              username: { type: 'string' },
              failures: {
                type: 'integer',
                description: 'failures that counted for the name and no longer do (0: none did)',
              },
            },
          },
        },
      },
    },
    async (request) => auth.unlock(request.body.username, request.user.username),
  );
  // Public in the access table, because every role must be able to sign out and the auditor may be
  // granted no POST: the handler checks the token itself, and ends only its owner's sessions.
  // In a scope of its own: the zod compilers would otherwise apply to the JSON-schema routes here.
  await app.register(async (scope) => {
    zodRoutes(scope).post(
      '/auth/logout',
      {
        config: { access: 'public' },
        schema: {
          tags: ['auth'],
          summary: 'Sign out: every token issued to the signed-in user so far stops working',
          description:
            "Raises the user's token version: this token and any other the user holds (another tab, a " +
            'copied token) are refused from now on, on every api node; live map connections end within ' +
            'seconds. Recorded in the audit log as auth.logout.',
          // Optional: a bare POST does it.
          body: z.object({}).strict().nullish(),
          response: {
            200: z.object({ username: z.string().describe('who was signed out') }),
            401: ErrorSchema,
          },
        },
      },
      async (request, reply) => {
        const token = bearerToken(request);
        const user = token ? await auth.authenticate(token) : null;
        if (!user) {
          return reply
            .status(401)
            .header('www-authenticate', 'Bearer error="invalid_token"')
            .send({ message: 'session expired or invalid: sign in again' });
        }
        await auth.logout(user);
        return { username: user.username };
      },
    );
  });

  app.post<{ Body: { username: string } }>(
    '/auth/revoke',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['auth'],
        summary: "End all of a user's sessions now (admin)",
        description:
          'Every token issued to the user so far is refused from now on, and live map connections end ' +
          'within seconds; the user may sign in again (disable the user to keep them out). Recorded ' +
          'in the audit log as auth.sessions_revoked.',
        body: usernameBody,
        response: {
          200: {
            type: 'object',
            required: ['username'],
            properties: { username: { type: 'string' } },
          },
          404: messageSchema,
        },
      },
    },
    async (request, reply) => {
      const done = await auth.revoke(request.body.username, request.user.username);
      if (!done) return reply.status(404).send({ message: `no user ${request.body.username}` });
      return done;
    },
  );
};
