/**
 * Route-level access control. Every /api route (and /metrics) declares who may call it in its
 * config — `config: { access: 'public' }` or `config: { access: ['collector', 'risk_manager'] }` —
 * and registering one without a declaration throws, so no route can be added unguarded. One
 * onRequest hook then turns `Authorization: Bearer <jwt>` into request.user: no or a bad token on a
 * guarded route is 401, a user without an allowed role 403.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { type Access, accessProblem, mayCall, type Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';

export interface AuthUser {
  id: string;
  username: string;
  name: string;
  roles: Role[];
  /** What the user sees (shared/scope.ts); every answer is filtered by it. */
  scope: Scope;
}

/** One registered route and who may call it (undefined: outside /api, so public). */
export interface RouteAccess {
  method: string;
  url: string;
  access: Access | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered so far with its declared access: the access table of the app. */
    readonly routeAccess: readonly RouteAccess[];
  }
  interface FastifyContextConfig {
    /** Who may call the route: 'public', or the roles allowed (checked at registration). */
    access?: Access;
  }
  interface FastifyRequest {
    /**
     * The signed-in user. Always set on a route that is not public (the hook answers 401 before
     * the handler otherwise); null on public routes, which do not read the token.
     */
    user: AuthUser;
  }
}

/** A signed-in user, and when the token they signed in with expires. */
export interface Session extends AuthUser {
  expiresAt: Date;
}

/** Turns a bearer token into the user it belongs to, or null when it is not (or no longer) valid. */
export type Authenticate = (token: string) => Promise<Session | null>;

/** Paths whose routes must declare their access. Static web files and the 404 handler stay public. */
export function isGuardedPath(url: string): boolean {
  return url.startsWith('/api/') || url === '/api' || url === '/metrics';
}

export class AccessDeclarationError extends Error {}

function checkDeclaration(route: RouteOptions): void {
  if (!isGuardedPath(route.url)) return;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const access = route.config?.access;
  if (access === undefined) {
    throw new AccessDeclarationError(
      `${methods.join(',')} ${route.url} declares no access: add config: { access: 'public' } or config: { access: [roles] }`,
    );
  }
  for (const method of methods) {
    const problem = accessProblem(method, access);
    if (problem) throw new AccessDeclarationError(`${method} ${route.url}: ${problem}`);
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? (m[1] ?? null) : null;
}

/**
 * Installs the registration check and the request hook. Call it first in buildApp, before any
 * route is registered: onRoute only sees routes registered after it.
 */
export function installAccessControl(app: FastifyInstance, authenticate: Authenticate): void {
  const table: RouteAccess[] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (route) => {
    checkDeclaration(route);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) table.push({ method, url: route.url, access: route.config?.access });
  });
  app.decorateRequest('user', null as unknown as AuthUser);

  app.addHook('onRequest', async (request, reply) => {
    // Unmatched requests (404 handler, static files) carry no declaration and are public.
    const access = request.routeOptions.config?.access ?? 'public';
    if (access === 'public') return;
    const token = bearerToken(request);
    if (!token) {
      return reply.status(401).header('www-authenticate', 'Bearer').send({ message: 'sign in first' });
    }
    const user = await authenticate(token);
    if (!user) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer error="invalid_token"')
        .send({ message: 'session expired or invalid: sign in again' });
    }
    request.user = user;
    if (!mayCall(user.roles, access)) {
      return reply
        .status(403)
        .send({ message: `your role may not ${request.method} ${request.routeOptions.url}` });
    }
  });
}
