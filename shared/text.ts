/**
 * Text a person or a program sends the platform: control characters have no place in a name, a
 * note or an id. PostgreSQL refuses a NUL in text outright (the request would fail deep in a
 * transaction), and the others hide in logs, CSV exports and the audit chain as invisible marks or
 * terminal escapes. Tab, line feed and carriage return are allowed where text may run over lines.
 */

/** C0 controls, DEL and C1 controls (Unicode's Cc: U+0000–U+001F, U+007F–U+009F). */
const CONTROL = /\p{Cc}/u;
/** The same, less tab, line feed and carriage return. */
const CONTROL_BUT_LINE_BREAKS = /(?![\t\n\r])\p{Cc}/u;

/**
 * Where in a decoded value (string, array, object: keys and values) the first control character
 * is, as a path like `body.customer.name`, with the character as U+XXXX; null when there is none.
 * Walks with its own stack, not recursion: a megabyte of `[[[[…` must not overflow the call stack.
 */
export function findControlCharacter(
  value: unknown,
  path: string,
  options: { lineBreaks: boolean },
): { path: string; character: string } | null {
  const pattern = options.lineBreaks ? CONTROL_BUT_LINE_BREAKS : CONTROL;
  const stack: [unknown, string][] = [[value, path]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, at] = next;
    if (typeof v === 'string') {
      const m = pattern.exec(v);
      if (m)
        return { path: at, character: `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${at}[${i}]`]);
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v).reverse())
        stack.push([item, `${at}.${key}`], [key, `${at} key`]);
    }
  }
  return null;
}
