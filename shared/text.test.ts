import { describe, expect, it } from 'vitest';
import { findControlCharacter } from './text.ts';

describe('control characters in input', () => {
  it('names the first field holding one, as U+XXXX', () => {
    const body = { customer: { name: 'ok', phones: ['138', '139\u001b[31m'] } };
    expect(findControlCharacter(body, 'body', { lineBreaks: true })).toEqual({
      path: 'body.customer.phones[1]',
      character: 'U+001B',
    });
    expect(findControlCharacter({ 'a\u0000': 1 }, 'body', { lineBreaks: true })?.path).toBe('body key');
    expect(findControlCharacter('x\u0085', 'query.q', { lineBreaks: false })?.character).toBe('U+0085');
  });

  it('lets tabs and line breaks through only where asked', () => {
    expect(findControlCharacter({ note: 'a\r\n\tb' }, 'body', { lineBreaks: true })).toBeNull();
    expect(findControlCharacter({ id: 'a\nb' }, 'path', { lineBreaks: false })?.path).toBe('path.id');
    expect(findControlCharacter({ note: '王建国 ✓' }, 'body', { lineBreaks: false })).toBeNull();
  });

  it('walks a deeply nested value without overflowing the stack', () => {
    let deep: unknown = 'bottom\u0000';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(findControlCharacter(deep, 'body', { lineBreaks: true })?.character).toBe('U+0000');
  });
});
