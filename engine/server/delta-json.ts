// A dashboard delta's wire JSON, assembled from JSON the hub already made.
/**
 * JSON.stringify(msg), from the rows' and summary's JSON already made to find what changed: under load every
 * row of every class changes, and stringifying them twice was a third of a dashboard tick.
 */
export function deltaJson(msg: { aggregation: string; group: string; at: number; interval_ms: number | undefined }, rowsJson: string[], summaryJson: string): string {
  const interval = msg.interval_ms === undefined ? '' : `,"interval_ms":${JSON.stringify(msg.interval_ms)}`;
  return `{"type":"delta","aggregation":${JSON.stringify(msg.aggregation)},"group":${JSON.stringify(msg.group)},"rows":[${rowsJson.join(',')}],"summary":${summaryJson},"at":${JSON.stringify(msg.at)}${interval}}`;
}
