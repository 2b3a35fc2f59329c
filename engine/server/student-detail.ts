// One student as a teacher's drill-down shows it: the class row, each document the student wrote (with its
// text, which only this view carries), and the student's other reducer views (recent bursts, typing, ...).
// Built from the engine's working set for one (dashboard, class, student) the caller has already authorized.
import type { Engine } from '../runtime.js';
import type { CompiledReducer, DashboardSpec, Json, Roster } from '../types.js';

/** The roster column holding a student's display name (the id is shown when a roster has none). */
export const NAME_COLUMN = 'name';
/** Characters of one document's text sent (a Google Doc can hold a million): the rest is marked truncated. */
export const MAX_TEXT_CHARS = 100_000;
/** Documents listed for one student, most edited first. */
export const MAX_DOCUMENTS = 50;
/** The longest member id a drill-down accepts (roster ids are short; anything longer is no student). */
export const MAX_MEMBER_CHARS = 256;

export interface StudentDocument {
  /** The key parts other than the student (the document id). */
  id: string;
  reducer: string;
  view: Json;
  text?: string;
  truncated?: boolean;
}

export interface StudentDetail {
  member: string;
  name: string;
  group: string;
  /** The student's row of the class table (what the dashboard shows), or null before any state. */
  row: Record<string, Json> | null;
  documents: StudentDocument[];
  /** Documents left out past MAX_DOCUMENTS. */
  moreDocuments: number;
  /** Views of the reducers keyed by the student alone, by reducer name. */
  reducers: Record<string, Json>;
  /** The pipeline's event-time clock (ms): what "idle" and "recent" are measured against. */
  clock: number;
}

export function rosterOf(engine: Engine, d: DashboardSpec): Roster {
  return engine.pipeline.aggregations.get(d.aggregation)!.groupBy.lookup!.roster;
}

export function displayName(roster: Roster, member: string): string {
  const n = roster.column(member, NAME_COLUMN);
  return n ? n : member;
}

/** Operators whose view can include the text itself (reconstruct_text's `include_text`): asked for it here only. */
const withText = (r: CompiledReducer): Record<string, unknown> | undefined =>
  (r.op.params as { properties?: Record<string, unknown> }).properties?.include_text ? { include_text: true } : undefined;

export function studentDetail(engine: Engine, d: DashboardSpec, group: string, member: string): StudentDetail {
  const agg = engine.pipeline.aggregations.get(d.aggregation)!;
  const row = engine.aggregate(d.aggregation, group).rows.find((r) => r.member === member) ?? null;
  const byName = new Map(engine.pipeline.reducers.map((r) => [r.name, r]));
  const documents: StudentDocument[] = [];
  const reducers: Record<string, Json> = {};
  for (const { reducer, key, view } of engine.memberViews(d.aggregation, member, withText)) {
    const r = byName.get(reducer)!;
    if (r.key.components.length < 2) {
      reducers[reducer] = view;
      continue;
    }
    // The document id: the key's parts other than the student's (keys join parts with '|').
    const parts = key.split('|');
    const id = parts.filter((_, i) => r.key.components[i] !== agg.member).join('|');
    const doc: StudentDocument = { id, reducer, view };
    if (view && typeof view === 'object' && !Array.isArray(view) && typeof view.text === 'string') {
      const { text, ...rest } = view;
      doc.view = rest;
      doc.text = (text as string).slice(0, MAX_TEXT_CHARS);
      if ((text as string).length > MAX_TEXT_CHARS) doc.truncated = true;
    }
    documents.push(doc);
  }
  const edits = (doc: StudentDocument) => Number((doc.view as { edits?: number } | null)?.edits ?? 0);
  documents.sort((a, b) => edits(b) - edits(a) || a.id.localeCompare(b.id));
  return {
    member,
    name: displayName(rosterOf(engine, d), member),
    group,
    row: row ? { ...row } : null,
    documents: documents.slice(0, MAX_DOCUMENTS),
    moreDocuments: Math.max(0, documents.length - MAX_DOCUMENTS),
    reducers,
    clock: engine.clock(),
  };
}
