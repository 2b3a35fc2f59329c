// Reports: JSON (all figures), Markdown (a table of figure, baseline, ratio, goal) and SVG line/bar plots.
import type { Figure, Profile, Series } from './workloads.js';

const fmt = (v: number | undefined, unit = '') => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const s = Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(2);
  return unit ? `${s} ${unit}` : s;
};

export function markdown(figures: Figure[], meta: Record<string, string>, plots: string[], failed: Array<{ name: string; error: string }>, profiles: Profile[] = []): string {
  const lines = [
    `# loflow benchmark report`,
    '',
    Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`).join('\n'),
    '',
    '| workload | figure | loflow | baseline | ratio | goal | met |',
    '|---|---|---:|---:|---:|---|---|',
    ...figures.map((f) => `| ${f.workload} | ${f.name}${f.note ? ` (${f.note})` : ''} | ${fmt(f.value, f.unit)} | ${fmt(f.baseline, f.baseline !== undefined ? f.unit : '')} | ${fmt(f.ratio)} | ${f.goal ?? ''} | ${f.met === undefined ? '' : f.met ? 'yes' : '**no**'} |`),
    '',
  ];
  for (const f of failed) lines.push(`- workload **${f.name}** failed: ${f.error}`);
  for (const p of profiles) {
    lines.push(`### Where the time goes: ${p.title} (node --cpu-prof, self time)`, '', '| self time | function |', '|---:|---|');
    for (const [pct, fn] of p.top) lines.push(`| ${pct}% | \`${fn}\` |`);
    lines.push('');
    if (p.byArea?.length) lines.push(`By area: ${p.byArea.map(([pct, area]) => `${area} ${pct}%`).join(', ')}.`, '');
  }
  for (const p of plots) lines.push(`![${p}](${p})`, '');
  return lines.join('\n');
}

/** A small line plot (one line per label) as SVG text. */
export function svgPlot(s: Series, width = 640, height = 360): string {
  const pad = { l: 80, r: 20, t: 40, b: 50 };
  const labels = [...new Set(s.points.map((p) => p.label))];
  const xs = [...new Set(s.points.map((p) => p.x))].sort((a, b) => a - b);
  const maxY = Math.max(1, ...s.points.map((p) => p.y)) * 1.1;
  const X = (x: number) => pad.l + (xs.length === 1 ? 0.5 : xs.indexOf(x) / (xs.length - 1)) * (width - pad.l - pad.r);
  const Y = (y: number) => height - pad.b - (y / maxY) * (height - pad.t - pad.b);
  const colors = ['#2f6fdb', '#d9822b', '#2a9d5c', '#b23a48'];
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`, `<rect width="100%" height="100%" fill="#fff"/>`, `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${s.title}</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = (maxY * i) / 4;
    out.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(y)}" y2="${Y(y)}" stroke="#eee"/>`, `<text x="${pad.l - 6}" y="${Y(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  // At most about 12 x labels (a soak has one x per window).
  const every = Math.ceil(xs.length / 12);
  xs.forEach((x, i) => i % every === 0 && out.push(`<text x="${X(x)}" y="${height - pad.b + 18}" text-anchor="middle">${x}</text>`));
  out.push(`<text x="${width / 2}" y="${height - 10}" text-anchor="middle">${s.x}</text>`, `<text x="16" y="${height / 2}" transform="rotate(-90 16 ${height / 2})" text-anchor="middle">${s.y}</text>`);
  labels.forEach((label, i) => {
    const pts = s.points.filter((p) => p.label === label).sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${colors[i % 4]}" stroke-width="2" points="${pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(' ')}"/>`);
    if (pts.length <= 40) for (const p of pts) out.push(`<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="3.5" fill="${colors[i % 4]}"/>`);
    out.push(`<rect x="${pad.l + 10}" y="${pad.t + i * 18}" width="12" height="12" fill="${colors[i % 4]}"/>`, `<text x="${pad.l + 28}" y="${pad.t + i * 18 + 10}">${label}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
