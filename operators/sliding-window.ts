import type { Operator } from '../engine/types.js';
import { durationSchema } from '../engine/duration.js';
import { durationParam, paramError, pathParam } from './params.js';
import { initWindows, latenessDescription, reduceWindows, viewWindows, windowEmits, windowView, type WindowParams, type WindowState } from './window-core.js';

export const slidingWindow: Operator<WindowState, WindowParams> = {
  name: 'sliding_window',
  summary: 'Hopping event-time windows of `size` starting every `every`; each closed window is emitted.',
  params: {
    type: 'object',
    required: ['size', 'every'],
    additionalProperties: false,
    properties: {
      size: { ...durationSchema, description: 'window length' },
      every: { ...durationSchema, description: 'a new window starts this often' },
      allowed_lateness: { ...durationSchema, description: latenessDescription },
      field: { type: 'string', pattern: '^\\$', description: 'a numeric field to sum and average (optional)' },
    },
  },
  prepare: (p: { size: unknown; every: unknown; allowed_lateness?: unknown; field?: string }) => {
    const size = durationParam('size', p.size);
    const every = durationParam('every', p.every);
    if (every <= 0 || every > size) throw paramError('every', 'must be more than 0 and at most size');
    return { size, every, lateness: durationParam('allowed_lateness', p.allowed_lateness ?? 0), field: p.field ? pathParam('field', p.field) : undefined };
  },
  init: initWindows,
  reduce: reduceWindows,
  view: viewWindows,
  emits: windowEmits,
  viewSchema: windowView,
  example: `last_5m: { from: [extension], key: student, op: sliding_window, params: { size: 5m, every: 1m }, emit: five_minutes }`,
};
