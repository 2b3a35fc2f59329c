// A small, strict JSON path subset, compiled once to an accessor: `$.a.b`, `$.a[0]`, `$['odd key']`, `$.a.*`
// is not supported on purpose (a key must name one value). Errors carry the column of the bad character.

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

/** Parse a path into its segments (strings for fields, numbers for array indices). */
export function parsePath(path: string): Array<string | number> {
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
  const s = parsePath(path);
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
