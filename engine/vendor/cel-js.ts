// @marcbachmann/cel-js, from its one-file bundle when built (build.ts says why).
import { pathToFileURL } from 'node:url';
import { vendorBundle } from './bundled.js';

type Cel = typeof import('@marcbachmann/cel-js');
const file = vendorBundle('cel-js');
const cel: Cel = file ? await import(pathToFileURL(file).href) : await import('@marcbachmann/cel-js');

export const { Environment } = cel;
