// Strings from an image (file names, link targets, #! lines, /etc/shells) are
// data: they may hold terminal escapes or bytes that are not UTF-8. Paths in
// the view are latin1 strings (one char per byte, byte-exact).
// - displayPath: the path as text for reports and JSON: its UTF-8 reading when
//   the bytes are valid UTF-8, else each invalid byte as \xNN (so two
//   different names never look the same);
// - escapeText: for anything printed on a terminal: control characters
//   (C0, DEL, C1), bidi overrides and backslashes escaped;
// - quoteName: a name inside a message, quoted and escaped.
const decoder = new TextDecoder('utf-8', { fatal: true });

export function displayPath(latin1: string): string {
  const bytes = Buffer.from(latin1, 'latin1');
  try {
    return decoder.decode(bytes);
  } catch {
    let out = '';
    let i = 0;
    while (i < bytes.length) {
      const n = utf8SeqLength(bytes, i);
      if (n === 0) { out += `\\x${bytes[i]!.toString(16).padStart(2, '0')}`; i++; continue; }
      out += bytes.subarray(i, i + n).toString('utf8');
      i += n;
    }
    return out;
  }
}

/** Length of the valid UTF-8 sequence at i, or 0. */
function utf8SeqLength(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n <= 1 || i + n > b.length) return n === 1 ? 1 : 0;
  try { decoder.decode(b.subarray(i, i + n)); return n; } catch { return 0; }
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\\]/gu;

export function escapeText(s: string): string {
  return s.replace(UNSAFE, (ch) => {
    if (ch === '\\') return '\\\\';
    const c = ch.codePointAt(0)!;
    return c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
  });
}

export function quoteName(latin1: string, max = 200): string {
  const s = displayPath(latin1.length > max ? latin1.slice(0, max) : latin1);
  return `"${escapeText(s)}${latin1.length > max ? '...' : ''}"`;
}
