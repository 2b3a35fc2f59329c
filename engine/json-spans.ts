// Where each element of a JSON array text starts and ends, so an element's exact text can be reused (see
// engine/log/raw-json.ts) without stringifying the parsed value again. Run only on text JSON.parse accepted:
// it relies on the text being valid JSON and checks just enough to return null, not wrong spans, otherwise.
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const SPACE = 32;

/** [start0, end0, start1, end1, ...] (end exclusive, surrounding whitespace excluded) of a trimmed JSON
 * array text's top-level elements; null when `text` is not one array. */
export function arrayElementSpans(text: string): number[] | null {
  if (text.charCodeAt(0) !== OPEN_BRACKET) return null;
  const spans: number[] = [];
  let depth = 0; // nesting inside the current element
  let start = -1; // where the current element starts; -1 between elements
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      if (start < 0) start = i;
      i = closingQuote(text, i);
      if (i < 0) return null;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (start < 0) start = i;
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth > 0) depth--;
      else {
        // The array's own ']': it must end the text.
        if (start >= 0) spans.push(start, endOf(text, i));
        return i === text.length - 1 ? spans : null;
      }
    } else if (c === COMMA && depth === 0) {
      if (start < 0) return null;
      spans.push(start, endOf(text, i));
      start = -1;
    } else if (start < 0 && c > SPACE) start = i;
  }
  return null;
}

/** Index of the quote closing the string opened at `open` (a quote after an odd run of backslashes is escaped). */
function closingQuote(text: string, open: number): number {
  let q = open;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return -1;
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
  }
}

/** End (exclusive) of an element followed by a separator at `sep`: back over whitespace. */
function endOf(text: string, sep: number): number {
  let e = sep;
  while (text.charCodeAt(e - 1) <= SPACE) e--;
  return e;
}
