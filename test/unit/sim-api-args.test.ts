/** The sim's --api-* options: what sets a platform up through its api, and the mistakes refused. */
import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../../simulators/cli-args.ts';

const NOW = Date.UTC(2026, 10, 28, 6, 0, 0);
const parse = (argv: string[], env: Record<string, string> = {}) => parseSimArgs(argv, env, NOW);
const apiOf = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parse(argv, env);
  if (parsed.kind !== 'run') throw new Error(`expected a run, got ${JSON.stringify(parsed)}`);
  return parsed.options.api;
};
const errorOf = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parse(argv, env);
  return parsed.kind === 'error' ? parsed.message : `no error: ${JSON.stringify(parsed)}`;
};

describe('sim --api-url', () => {
  it('is off unless asked for', () => {
    expect(apiOf([])).toBeUndefined();
    expect(apiOf([], { SIM_API_PASSWORD: 'secret' })).toBeUndefined();
  });

  it('takes the user and the password from the options, or the password from $SIM_API_PASSWORD', () => {
    const url = 'http://platform:8080';
    expect(apiOf(['--api-url', url, '--api-user', 'admin', '--api-password', 'pw'])).toEqual({
      url,
      user: 'admin',
      password: 'pw',
    });
    expect(apiOf(['--api-url', url, '--api-user', 'admin'], { SIM_API_PASSWORD: 'env-pw' })).toEqual({
      url,
      user: 'admin',
      password: 'env-pw',
    });
    expect(
      apiOf(['--api-url', url, '--api-user', 'admin', '--api-password', 'flag'], { SIM_API_PASSWORD: 'env' })
        ?.password,
    ).toBe('flag');
  });

  it('refuses what cannot work, naming the option', () => {
    expect(errorOf(['--api-url', 'platform:8080', '--api-user', 'a', '--api-password', 'p'])).toBe(
      '--api-url must start with http:// or https:// (got "platform:8080")',
    );
    expect(errorOf(['--api-url', 'not a url', '--api-user', 'a', '--api-password', 'p'])).toMatch(
      /^--api-url must be a URL like http:\/\/host:8080/,
    );
    expect(errorOf(['--api-url', 'http://h:8080', '--api-password', 'p'])).toMatch(/needs --api-user/);
    expect(errorOf(['--api-url', 'http://h:8080', '--api-user', 'a'])).toMatch(
      /needs --api-password or \$SIM_API_PASSWORD/,
    );
    expect(errorOf(['--api-user', 'a'])).toBe('--api-user and --api-password go with --api-url');
    expect(errorOf(['--api-password', 'p'])).toBe('--api-user and --api-password go with --api-url');
  });
});
