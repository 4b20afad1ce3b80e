import type { FastifyPluginAsync } from 'fastify';
import { ROLES, type Role } from '../../shared/roles.ts';
import type { Auth } from '../auth/service.ts';

const userSchema = {
  type: 'object',
  required: ['id', 'username', 'name', 'roles'],
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    name: { type: 'string' },
    roles: { type: 'array', items: { type: 'string', enum: [...ROLES] } },
  },
} as const;

const messageSchema = { type: 'object', required: ['message'], properties: { message: { type: 'string' } } };

export const authRoutes: FastifyPluginAsync<{ auth: Auth }> = async (app, { auth }) => {
  app.post<{ Body: { username: string; password: string } }>(
    '/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in: user name and password for a bearer token (JWT) with its expiry',
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
        },
      },
    },
    async (request, reply) => {
      const result = await auth.login(request.body.username, request.body.password);
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
};
