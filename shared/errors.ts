/**
 * Domain errors: what went wrong in the business's terms, thrown by services and stores. They know
 * nothing of HTTP; the api's HTTP layer (api/http/errors.ts) decides the status each one answers
 * with, and a background caller (the command dispatcher) handles them as what they are.
 */

/** Something the request names does not exist. */
export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
  }
}

/** Not possible in the present state, e.g. a command already past the state it would leave. */
export class ConflictError extends Error {}

/** Understood but not allowed as asked, e.g. a disabled device, a payment dated in the future. */
export class UnprocessableError extends Error {}

/** Malformed in a way the request schema cannot say, e.g. an unreadable CSV file. */
export class InvalidInputError extends Error {}

/** The signed-in user may not do this to this thing, e.g. approve their own command. */
export class NotAllowedError extends Error {}
