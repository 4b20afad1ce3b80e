/**
 * A database of the cluster's own on a PostgreSQL server that others use too (this machine's, CI's):
 * created empty (the nodes migrate it at start), dropped with its connections at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface OwnDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Whether a postgres:// URL names a database (a path), or only the server. */
export const namesDatabase = (url: string) => !['', '/'].includes(new URL(url).pathname);

export async function createOwnDatabase(serverUrl: string, prefix = 'rt_cluster'): Promise<OwnDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new URL(serverUrl);
  admin.pathname = '/postgres';
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}
