/**
 * zod compiles object parsers with `Function` unless told not to, and probes for it first; under
 * the api's Content-Security-Policy (no 'unsafe-eval') the probe is a CSP violation on every page
 * load. Imported first by main.tsx, before any schema from shared/ is defined.
 */
import { z } from 'zod';

z.config({ jitless: true });
