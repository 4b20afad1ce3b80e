/** Sign-in throttling's pure parts: the client address behind proxies, and its configuration. */
import { describe, expect, it } from 'vitest';
import { clientAddress, DEFAULT_LOGIN_THROTTLE, loginThrottleFrom } from '../../api/auth/throttle.ts';
import { parseConfig } from '../../shared/config.ts';

describe('clientAddress', () => {
  it('is the connection without trusted proxies, whatever X-Forwarded-For says', () => {
    expect(clientAddress('203.0.113.9', '10.1.1.1', 0)).toBe('203.0.113.9');
    expect(clientAddress('203.0.113.9', undefined, 0)).toBe('203.0.113.9');
  });

  it('counts trusted hops from the right, so what the client wrote on the left is ignored', () => {
    // client wrote "6.6.6.6", proxy 1 appended the client, proxy 2 appended proxy 1.
    const header = '6.6.6.6, 198.51.100.7, 10.0.0.2';
    expect(clientAddress('10.0.0.3', header, 1)).toBe('10.0.0.2');
    expect(clientAddress('10.0.0.3', header, 2)).toBe('198.51.100.7');
    // Headers repeated are one list, in order.
    expect(clientAddress('10.0.0.3', ['6.6.6.6', '198.51.100.7'], 1)).toBe('198.51.100.7');
  });

  it('takes the leftmost when there are fewer entries than hops, and null with nothing at all', () => {
    expect(clientAddress('10.0.0.3', '198.51.100.7', 5)).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.3', undefined, 1)).toBe('10.0.0.3');
    expect(clientAddress(undefined, undefined, 0)).toBeNull();
    expect(clientAddress(undefined, ' , ', 1)).toBeNull();
  });
});

describe('login throttle configuration', () => {
  it('defaults to 5 per user name and 20 per address in 15 minutes, no proxy', () => {
    const r = parseConfig({});
    expect(r.ok && loginThrottleFrom(r.config)).toEqual(DEFAULT_LOGIN_THROTTLE);
    expect(DEFAULT_LOGIN_THROTTLE).toEqual({
      maxFailuresPerUser: 5,
      maxFailuresPerAddress: 20,
      windowSeconds: 900,
      proxyHops: 0,
    });
  });

  it('reads the variables, durations with units, and 0 as no limit', () => {
    const r = parseConfig({
      LOGIN_MAX_FAILURES: '0',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '50',
      LOGIN_FAILURE_WINDOW: '1h',
      LOGIN_PROXY_HOPS: '1',
    });
    expect(r.ok && loginThrottleFrom(r.config)).toEqual({
      maxFailuresPerUser: 0,
      maxFailuresPerAddress: 50,
      windowSeconds: 3600,
      proxyHops: 1,
    });
  });

  it('refuses nonsense, naming the variable', () => {
    const r = parseConfig({
      LOGIN_MAX_FAILURES: '-1',
      LOGIN_MAX_FAILURES_PER_ADDRESS: 'many',
      LOGIN_FAILURE_WINDOW: '2d',
      LOGIN_PROXY_HOPS: '1.5',
    });
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(/^LOGIN_MAX_FAILURES: .*0 \(no limit\)/),
      expect.stringMatching(/^LOGIN_MAX_FAILURES_PER_ADDRESS: .*number/),
      expect.stringMatching(/^LOGIN_FAILURE_WINDOW: .*1s to 24h/),
      expect.stringMatching(/^LOGIN_PROXY_HOPS: .*whole number/),
    ]);
  });
});
