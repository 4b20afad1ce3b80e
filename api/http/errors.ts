import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ConflictError,
  InvalidInputError,
  NotAllowedError,
  NotFoundError,
  UnprocessableError,
} from '../../shared/errors.ts';

/** An error the caller can act on: its status (4xx) and message go back as they are. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/**
 * The one error handler: 4xx messages pass through, validation errors list what was wrong, 5xx are
 * generic to the caller and logged in full.
 */
export function errorHandler(
  error: Error & { statusCode?: number; validation?: unknown },
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const status = error.statusCode ?? domainStatus(error) ?? 500;
  if (error.validation) {
    return reply.status(400).send({ message: error.message, errors: error.validation });
  }
  if (status < 500) return reply.status(status).send({ message: error.message });
  request.log.error({ err: error }, 'request failed');
  return reply.status(status).send({ message: 'internal error' });
}

/** The status a domain error (shared/errors.ts) answers with; undefined for any other error. */
export function domainStatus(error: Error): number | undefined {
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof UnprocessableError) return 422;
  if (error instanceof InvalidInputError) return 400;
  if (error instanceof NotAllowedError) return 403;
  return undefined;
}
