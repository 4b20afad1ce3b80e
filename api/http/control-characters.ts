/**
 * Every request's decoded input — path parameters, query string and body — is checked for control
 * characters before any route's own validation, so a NUL in a login name, a note or a path is a
 * 400 naming the field, never a database error. One hook for all routes, so a new field cannot
 * forget it. Line breaks and tabs pass in bodies (notes, CSV imports), nowhere else.
 */
import type { FastifyInstance } from 'fastify';
import { findControlCharacter } from '../../shared/text.ts';
import { HttpError } from './errors.ts';

export function refuseControlCharacters(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const found =
      findControlCharacter(request.params, 'path', { lineBreaks: false }) ??
      findControlCharacter(request.query, 'query', { lineBreaks: false }) ??
      findControlCharacter(request.body, 'body', { lineBreaks: true });
    if (found) {
      throw new HttpError(400, `${found.path}: control character ${found.character} is not allowed`);
    }
  });
}
