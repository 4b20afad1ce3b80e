import { describe, expect, it } from 'vitest';
import { en } from './en.ts';
import { pickLanguage } from './index.ts';
import { zhCN } from './zh-CN.ts';

type Tree = { [k: string]: string | Tree };
const flatten = (t: Tree, prefix = ''): [string, string][] =>
  Object.entries(t).flatMap(([k, v]) =>
    typeof v === 'string' ? [[`${prefix}${k}`, v]] : flatten(v, `${prefix}${k}.`),
  );
const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)/g)].map((m) => m[1]).sort();

describe('texts', () => {
  const english = new Map(flatten(en));
  const chinese = new Map(flatten(zhCN as Tree));

  it('has every English text in Chinese, none empty, with the same placeholders', () => {
    expect([...chinese.keys()].sort()).toEqual([...english.keys()].sort());
    for (const [key, text] of english) {
      const zh = chinese.get(key)!;
      expect(zh.trim(), key).not.toBe('');
      expect(placeholders(zh), key).toEqual(placeholders(text));
    }
  });

  it('picks Chinese for any Chinese browser and when nothing is known, English otherwise', () => {
    expect(pickLanguage('zh-CN')).toBe('zh-CN');
    expect(pickLanguage('zh-TW')).toBe('zh-CN');
    expect(pickLanguage('zh')).toBe('zh-CN');
    expect(pickLanguage(undefined)).toBe('zh-CN');
    expect(pickLanguage('en-US')).toBe('en');
    expect(pickLanguage('de')).toBe('en');
  });
});
