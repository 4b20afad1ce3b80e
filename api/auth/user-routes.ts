/** The user list and each user's scope, for administrators (adding users stays with `npm run users`). */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { ScopeSchema } from '../../shared/api/users.ts';
import { ROLES, type Role } from '../../shared/roles.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { listUsers, type StoredUser, setUserScope } from './users.ts';

const ADMINS: Role[] = ['admin'];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
const UserSchema = z.object({
  id: z.string(),
  username: z.string(),
  name: z.string(),
  roles: z.array(z.enum(ROLES)),
  scope: ScopeSchema,
  disabled: z.boolean(),
});
const view = (u: StoredUser) => ({
  id: u.id,
  username: u.username,
  name: u.name,
  roles: u.roles,
  scope: u.scope,
  disabled: u.disabledAt !== null,
});

export const userRoutes: FastifyPluginAsync<{ db: Database }> = async (base, { db }) => {
  const app = zodRoutes(base);

  app.get(
    '/users',
    {
      config: { access: ADMINS },
      schema: {
        tags: ['auth'],
        summary: 'Every user with roles and scope',
        response: { 200: z.array(UserSchema), ...errors },
      },
    },
    async () => (await listUsers(db)).map(view),
  );

  app.put(
    '/users/:username/scope',
    {
      config: { access: ADMINS },
      schema: {
        tags: ['auth'],
        summary:
          'Set what a user sees: all, some dealers ({"kind":"dealers","dealerIds":[…]}) or the cases assigned to them',
        params: z.object({ username: z.string().trim().min(1).max(64) }),
        body: ScopeSchema,
        response: { 200: UserSchema, ...errors },
      },
    },
    async (request) => {
      const user = await setUserScope(db, request.params.username, request.body, request.user.username);
      if (!user) throw notFound(`user ${request.params.username}`);
      return view(user);
    },
  );
};
