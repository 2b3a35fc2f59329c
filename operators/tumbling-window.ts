import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam, pathParam } from './params.js';
import { initWindows, latenessDescription, reduceWindows, viewWindows, windowEmits, windowView, type WindowParams, type WindowState } from './window-core.js';

export const tumblingWindow: Operator<WindowState, WindowParams> = {
  name: 'tumbling_window',
  summary: 'Fixed, non-overlapping event-time windows; each closed window is emitted {window_start, window_end, count, sum, mean}.',
  params: {
    type: 'object',
    required: ['size'],
    additionalProperties: false,
    properties: {
      size: { ...durationSchema, description: 'window length' },
      allowed_lateness: { ...durationSchema, description: latenessDescription },
      field: { type: 'string', pattern: '^\\$', description: 'a numeric field to sum and average (optional)' },
    },
  },
  prepare: (p: { size: unknown; allowed_lateness?: unknown; field?: string }) => {
    const size = durationParam('size', p.size);
    return { size, every: size, lateness: durationParam('allowed_lateness', p.allowed_lateness ?? 0), field: p.field ? pathParam('field', p.field) : undefined };
  },
  init: initWindows,
  reduce: reduceWindows,
  view: viewWindows,
  emits: windowEmits,
  viewSchema: windowView,
  example: `per_minute: { from: [extension], key: student, op: tumbling_window, params: { size: 1m, allowed_lateness: 10s }, emit: minute, late: late_events }`,
};
