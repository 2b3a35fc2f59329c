// Prints the operator and aggregator reference (Markdown) from the registries, so the README never drifts:
// `node dist/operators/reference.js`.
import { builtinAggregators, builtinOperators } from './registry.js';

function params(schema: Record<string, any>): string {
  const props = Object.entries<Record<string, any>>(schema.properties ?? {});
  if (props.length === 0) return '–';
  const required = new Set<string>(schema.required ?? []);
  return props.map(([k, v]) => `\`${k}\`${required.has(k) ? '' : '?'}${v.description ? `: ${v.description}` : ''}`).join('<br>');
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function reference(): string {
  const lines = ['| op | what | params (`?` optional) | example |', '|---|---|---|---|'];
  for (const op of builtinOperators.values()) {
    lines.push(`| \`${op.name}\` | ${cell(op.summary)}${op.merge ? ' (mergeable)' : ''}${op.emits ? ' (emits)' : ''} | ${cell(params(op.params))} | \`${cell(op.example)}\` |`);
  }
  lines.push('', '| aggregator | what | params | example |', '|---|---|---|---|');
  for (const a of builtinAggregators.values()) lines.push(`| \`${a.name}\` | ${cell(a.summary)} | ${cell(params(a.params))} | \`${cell(a.example)}\` |`);
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').slice(-2).join('/'))) console.log(reference());
