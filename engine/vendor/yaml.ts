// yaml, from its one-file bundle when built (build.ts says why). Import yaml from here, not from 'yaml'.
import { pathToFileURL } from 'node:url';
import { vendorBundle } from './bundled.js';

type Yaml = typeof import('yaml');
const file = vendorBundle('yaml');
const yaml: Yaml = file ? await import(pathToFileURL(file).href) : await import('yaml');

export const { parse, parseDocument, stringify, isMap, isPair, isScalar, isSeq, isCollection, LineCounter } = yaml;
export type LineCounter = import('yaml').LineCounter;
export type { Document, Node, Pair, YAMLMap } from 'yaml';
