// Did-you-mean hints for mistyped names (fields, streams, operators, CLI commands). Its own module, with no
// imports, so `loflow --help`'s path can use it without loading the compiler.

/** Levenshtein distance, for did-you-mean hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** `; did you mean 'x'?` when a known name is close, else the list of known names. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const list = [...known];
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of list) {
    const dd = distance(name.toLowerCase(), k.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return `did you mean '${best}'?`;
  const prefix = list.find((k) => k.length >= 2 && (name.startsWith(k) || k.startsWith(name)));
  if (prefix) return `did you mean '${prefix}'?`;
  return list.length ? `known: ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', ...' : ''}` : '';
}
