/** A route plugin's instance with zod doing the work: requests validated and responses serialised by the routes' zod schemas, and handlers typed from them. */
import type { FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';

export function zodRoutes(base: FastifyInstance) {
  base.setValidatorCompiler(validatorCompiler);
  base.setSerializerCompiler(serializerCompiler);
  return base.withTypeProvider<ZodTypeProvider>();
}
