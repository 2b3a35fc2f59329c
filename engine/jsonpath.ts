// A small, strict JSON path subset, compiled once to an accessor: `$.a.b`, `$.a[0]`, `$['odd key']`, `$.a.*`
// is not supported on purpose (a key must name one value). Errors carry the column of the bad character.
// Alternatives `$.a ?? $.b` read the first path whose value is neither missing nor null (events of different
// kinds name the same thing differently: a Docs save's `doc_id`, the extension wrapper's `object.id`).

export type Accessor = (value: unknown) => unknown;

export class JsonPathError extends Error {
  constructor(
    message: string,
    /** 0-based offset in the path text where the problem is. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * The alternatives of a path, split at `??` outside brackets, each trimmed, with its offset in the text.
 * A path without `??` is its only alternative.
 */
export function alternativesOf(path: string): Array<{ path: string; offset: number }> {
  const out: Array<{ path: string; offset: number }> = [];
  let start = 0;
  let quote: string | null = null;
  let bracket = false;
  const push = (end: number) => {
    const raw = path.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    out.push({ path: raw.trim(), offset: start + lead });
  };
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (bracket && (c === "'" || c === '"')) quote = c;
    else if (c === '[') bracket = true;
    else if (c === ']') bracket = false;
    else if (!bracket && c === '?' && path[i + 1] === '?') {
      push(i);
      start = i + 2;
      i++;
    }
  }
  push(path.length);
  return out;
}

/**
 * Parse a path into its segments (strings for fields, numbers for array indices). For alternatives
 * (`$.a ?? $.b`) every one is checked and the first one's segments are returned.
 */
export function parsePath(path: string): Array<string | number> {
  if (typeof path === 'string' && path.includes('??')) {
    const alts = alternativesOf(path);
    if (alts.length > 1) {
      let first: Array<string | number> | undefined;
      for (const a of alts) {
        try {
          const segs = parseOne(a.path);
          first ??= segs;
        } catch (err) {
          if (err instanceof JsonPathError) throw new JsonPathError(`${err.message} (in '${path}')`, a.offset + err.offset);
          throw err;
        }
      }
      return first!;
    }
  }
  return parseOne(path);
}

function parseOne(path: string): Array<string | number> {
  if (typeof path !== 'string' || !path.startsWith('$')) {
    throw new JsonPathError(`a JSON path starts with '$' (got '${path}'); e.g. $.auth.user_id`, 0);
  }
  const segments: Array<string | number> = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1));
      if (!m) throw new JsonPathError(`expected a field name after '.' at column ${i + 2} of '${path}'`, i + 1);
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const num = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\[(['"])((?:[^\\]|\\.)*?)\1\]/.exec(rest);
      if (num) {
        segments.push(Number(num[1]));
        i += num[0].length;
      } else if (quoted) {
        segments.push(quoted[2].replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else {
        throw new JsonPathError(`expected [index] or ['field'] at column ${i + 1} of '${path}'`, i);
      }
    } else {
      throw new JsonPathError(`unexpected '${c}' at column ${i + 1} of '${path}'`, i);
    }
  }
  return segments;
}

/** Compile a path to a fast accessor; `$` alone returns the value itself. */
export function compilePath(path: string): Accessor {
  if (typeof path === 'string' && path.includes('??')) {
    const alts = alternativesOf(path);
    if (alts.length > 1) {
      parsePath(path); // errors with the offset in the whole text
      const gets = alts.map((a) => compileOne(a.path));
      return (v) => {
        for (let i = 0; i < gets.length; i++) {
          const x = gets[i](v);
          if (x !== undefined && x !== null) return x;
        }
        return undefined;
      };
    }
  }
  return compileOne(path);
}

function compileOne(path: string): Accessor {
  const s = parseOne(path);
  switch (s.length) {
    case 0:
      return (v) => v;
    case 1: {
      const [a] = s;
      return (v: any) => (v == null ? undefined : v[a]);
    }
    case 2: {
      const [a, b] = s;
      return (v: any) => {
        const x = v == null ? undefined : v[a];
        return x == null ? undefined : x[b];
      };
    }
    default:
      return (v: any) => {
        let x = v;
        for (let k = 0; k < s.length; k++) {
          if (x == null) return undefined;
          x = x[s[k]];
        }
        return x;
      };
  }
}

/** True when the text looks like a JSON path (starts with '$'). */
export function isPath(text: unknown): text is string {
  return typeof text === 'string' && text.startsWith('$');
}

/** Copy the value at a path from one object to another (creating parents), unless `to` already has one. */
export function copierOf(path: string): (from: unknown, to: Record<string, any>) => void {
  const alts = typeof path === 'string' && path.includes('??') ? alternativesOf(path) : [];
  if (alts.length > 1) {
    // Every alternative the event has: a derived event is keyed the same way as its source.
    const copiers = alts.map((a) => copierOf(a.path));
    return (from, to) => {
      for (const c of copiers) c(from, to);
    };
  }
  const segs = parsePath(path);
  const get = compilePath(path);
  return (from, to) => {
    const v = get(from);
    if (v === undefined || segs.length === 0) return;
    let o: any = to;
    for (let i = 0; i < segs.length - 1; i++) {
      if (o[segs[i]] == null || typeof o[segs[i]] !== 'object') o[segs[i]] = typeof segs[i + 1] === 'number' ? [] : {};
      o = o[segs[i]];
    }
    const last = segs[segs.length - 1];
    if (o[last] === undefined) o[last] = v;
  };
}
