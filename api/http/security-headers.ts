/**
 * Security headers on every answer (@fastify/helmet): a Content-Security-Policy the web app runs
 * under — scripts, styles, fonts and MapLibre's worker only from the api's own origin (the app
 * points MapLibre at its worker file instead of a blob: URL, so no blob: scripts), images also
 * from data: (the page icon) and blob: (MapLibre's image fallback), connections to the api and its
 * socket.io only (plus the basemap's origin when MAP_STYLE_URL points elsewhere), no plugins,
 * never inside a frame — and nosniff, a same-origin referrer, no cross-origin openers.
 *
 * HSTS only on answers that went out over TLS: the api's own, or a trusted proxy's
 * (LOGIN_PROXY_HOPS > 0) that says so in X-Forwarded-Proto. Over plain HTTP a browser ignores it,
 * and sending it anyway would pin a name to HTTPS that may not serve it yet.
 */
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A year, with subdomains: what HSTS preload lists ask for. */
const HSTS = 'max-age=31536000; includeSubDomains';

export interface SecurityHeaderOptions {
  /** MAP_STYLE_URL: its origin may serve the style, tiles, sprites and glyphs. */
  mapStyleUrl?: string | null | undefined;
  /** Reverse proxies in front of the api whose X-Forwarded-Proto is believed. */
  proxyHops?: number | undefined;
}

export function contentSecurityPolicy(mapStyleUrl?: string | null): Record<string, string[]> {
  const map = mapStyleUrl ? [new URL(mapStyleUrl).origin] : [];
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'font-src': ["'self'"],
    'img-src': ["'self'", 'data:', 'blob:', ...map],
    'worker-src': ["'self'"],
    'connect-src': ["'self'", ...map],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  };
}

function overTls(request: FastifyRequest, proxyHops: number): boolean {
  if ((request.socket as { encrypted?: boolean }).encrypted) return true;
  if (proxyHops === 0) return false;
  const proto = request.headers['x-forwarded-proto'];
  const last = (Array.isArray(proto) ? proto.join(',') : (proto ?? '')).split(',').pop()?.trim();
  return last === 'https';
}

export async function installSecurityHeaders(
  app: FastifyInstance,
  options: SecurityHeaderOptions = {},
): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: contentSecurityPolicy(options.mapStyleUrl),
    },
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
  });
  const hops = options.proxyHops ?? 0;
  app.addHook('onSend', async (request, reply) => {
    if (overTls(request, hops)) reply.header('strict-transport-security', HSTS);
  });
}
