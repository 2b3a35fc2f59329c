// Durations in pipeline files are written for people: `500ms`, `2s`, `5m`, `1h30m`, or a number of ms.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration; throws an Error with a readable message when it is not one. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
    let total = 0;
    let end = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text))) {
      total += Number(m[1]) * UNIT_MS[m[2]];
      end = re.lastIndex;
    }
    if (end > 0 && end === text.length) return total;
  }
  throw new Error(`'${String(value)}' is not a duration: write e.g. 500ms, 2s, 5m, 1h30m or a number of milliseconds`);
}

/** JSON Schema fragment for a duration parameter. */
export const durationSchema = {
  anyOf: [
    { type: 'number', minimum: 0 },
    { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?)((ms|s|m|h|d)(\\d+(\\.\\d+)?(ms|s|m|h|d))*)?\\s*$' },
  ],
  description: 'a duration: 500ms, 2s, 5m, 1h30m, or a number of milliseconds',
} as const;
