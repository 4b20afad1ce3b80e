/** The Mosquitto password file format, checked against a line mosquitto_passwd 2.0.11 wrote. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderPasswordFile, replaceFile } from '../../broker/mosquitto-passwords.ts';
import { parseConfig } from '../../shared/config.ts';
import { mosquittoPasswordHash, mosquittoPasswordMatches } from '../../shared/credentials.ts';

// `mosquitto_passwd -b passwd dev-x s3cret-token` (mosquitto 2.0.11).
const FROM_MOSQUITTO_PASSWD =
  '$7$101$vHE5Dnls+eqd/9Dv$Of4RMJCJ0ez1ZY/fPx9KtdzVjp9tYfzrPB32uXW377QXpOhFR2OXZr3Yn1EfyqjqTW/AOLDeP0NhR4jpP0kg7w==';

describe('mosquittoPasswordHash', () => {
  it('computes what mosquitto_passwd writes for the same salt', async () => {
    const salt = Buffer.from(FROM_MOSQUITTO_PASSWD.split('$')[3] as string, 'base64');
    expect(await mosquittoPasswordHash('s3cret-token', salt)).toBe(FROM_MOSQUITTO_PASSWD);
  });

  it('uses a fresh 12-byte salt each time, and the hash checks only its own password', async () => {
    const [one, two] = [await mosquittoPasswordHash('tok'), await mosquittoPasswordHash('tok')];
    expect(one).not.toBe(two);
    expect(Buffer.from(one.split('$')[3] as string, 'base64')).toHaveLength(12);
    expect(mosquittoPasswordMatches('tok', one)).toBe(true);
    expect(mosquittoPasswordMatches('tok', two)).toBe(true);
    expect(mosquittoPasswordMatches('tok2', one)).toBe(false);
    expect(mosquittoPasswordMatches('s3cret-token', FROM_MOSQUITTO_PASSWD)).toBe(true);
    expect(mosquittoPasswordMatches('s3cret-token', 'plain')).toBe(false);
  });
});

describe('renderPasswordFile', () => {
  const hash = FROM_MOSQUITTO_PASSWD;
  it('writes one line per user, sorted, so the same registry gives the same bytes', () => {
    const file = renderPasswordFile([
      { username: 'dev-b', hash },
      { username: 'dev-a', hash },
    ]);
    expect(file).toBe(`dev-a:${hash}\ndev-b:${hash}\n`);
    expect(renderPasswordFile([])).toBe('');
  });

  it('refuses entries mosquitto would misread', () => {
    expect(() => renderPasswordFile([{ username: 'a:b', hash }])).toThrow(/user name/);
    expect(() => renderPasswordFile([{ username: 'a\nb', hash }])).toThrow(/user name/);
    expect(() => renderPasswordFile([{ username: 'dev-a', hash: 'plain' }])).toThrow(/\$7\$/);
    expect(() =>
      renderPasswordFile([
        { username: 'dev-a', hash },
        { username: 'dev-a', hash },
      ]),
    ).toThrow(/twice/);
  });
});

describe('replaceFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-replace-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes owner-only, leaves no temporary file, and skips an unchanged file', async () => {
    const path = join(dir, 'passwd');
    expect(await replaceFile(path, 'one\n')).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('one\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const before = statSync(path).ino;
    expect(await replaceFile(path, 'one\n')).toBe(false);
    expect(statSync(path).ino).toBe(before);
    expect(await replaceFile(path, 'two\n')).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('two\n');
    expect(readdirSync(dir)).toEqual(['passwd']);
  });

  it('fails with the reason when the folder is missing, and leaves nothing behind', async () => {
    await expect(replaceFile(join(dir, 'missing', 'passwd'), 'x')).rejects.toThrow(/ENOENT/);
  });
});

describe('configuration', () => {
  const errors = (env: Record<string, string>) => {
    const r = parseConfig(env);
    return r.ok ? [] : r.errors;
  };

  it('takes MOSQUITTO_PASSWORD_FILE as a file path, unset by default', () => {
    const r = parseConfig({ MOSQUITTO_PASSWORD_FILE: ' /app/broker/devices.passwd ' });
    expect(r.ok && r.config.MOSQUITTO_PASSWORD_FILE).toBe('/app/broker/devices.passwd');
    const unset = parseConfig({});
    expect(unset.ok && unset.config.MOSQUITTO_PASSWORD_FILE).toBeUndefined();
    expect(errors({ MOSQUITTO_PASSWORD_FILE: '/app/broker/' })).toEqual([
      expect.stringMatching(/^MOSQUITTO_PASSWORD_FILE: .*path of a file/),
    ]);
  });

  it('wants the service account user name and password together', () => {
    expect(errors({ MQTT_USERNAME: 'svc-ingest', MQTT_PASSWORD: 'pw' })).toEqual([]);
    expect(errors({ MQTT_USERNAME: 'svc-ingest' })).toEqual([
      expect.stringMatching(/^MQTT_USERNAME: .*MQTT_PASSWORD is not/),
    ]);
    expect(errors({ MQTT_PASSWORD: 'pw' })).toEqual([
      expect.stringMatching(/^MQTT_PASSWORD: .*MQTT_USERNAME is not/),
    ]);
  });
});
