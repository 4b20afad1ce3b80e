// The part of pg-copy-streams-binary (CommonJS, no published types) that the insert-methods bench uses.
declare module 'pg-copy-streams-binary' {
  import type { Transform } from 'node:stream';

  export interface BinaryField {
    type: string;
    value: unknown;
  }
  const binary: {
    /** Object-mode transform: arrays of typed fields in, PostgreSQL COPY binary bytes out. */
    rowWriter(options?: { COPY_sendHeader?: boolean; COPY_sendTrailer?: boolean }): Transform;
  };
  export default binary;
}
