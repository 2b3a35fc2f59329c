// Which partition a routing key value belongs to: fnv1a32(utf8(value)) mod P (docs/scale-out.md §2). FNV-1a
// is trivial in any language and needs no dependency; a test pins a table of values -> partitions so the
// function can never change silently (it decides where every state lives).

const OFFSET_BASIS = 0x811c9dc5;
const PRIME = 0x01000193;

/** 32-bit FNV-1a of the string's UTF-8 bytes (encoded on the fly: no buffer per call). */
export function fnv1a32(value: string): number {
  let h = OFFSET_BASIS;
  const byte = (b: number) => {
    h ^= b;
    h = Math.imul(h, PRIME);
  };
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      // Inline the common case (ASCII ids).
      h ^= c;
      h = Math.imul(h, PRIME);
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    // A lone surrogate is encoded as U+FFFD, as TextEncoder does.
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    if (c < 0x800) {
      byte(0xc0 | (c >> 6));
      byte(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 0x3f));
      byte(0x80 | ((c >> 6) & 0x3f));
      byte(0x80 | (c & 0x3f));
    }
  }
  return h >>> 0;
}

/** The partition of a routing key value among `count`. */
export function partitionOf(value: string, count: number): number {
  return count === 1 ? 0 : fnv1a32(value) % count;
}

/** The name the state store keeps partition `n`'s records under: the pipeline's own name when P = 1 (today's keys). */
export function partitionStoreName(pipeline: string, n: number, count: number): string {
  return count === 1 ? pipeline : `${pipeline}:p${n}`;
}
