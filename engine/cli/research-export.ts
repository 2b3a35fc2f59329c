// The research options of `archive export` (README "Consent and research exports"): `--research` needs a
// consent source (`--consent FILE`), is always logged, and is pseudonymized unless `--raw-ids` asks for ids.
import { resolve } from 'node:path';
import { loadConsent, type ConsentList } from '../../archive/consent.js';
import { pseudonymKey } from '../../archive/pseudonymize.js';

type Usage = (message: string) => Error;

/** The consent list of a research export (undefined when it is not one); refusals as usage errors. */
export function researchConsent(options: Record<string, string | boolean>, usage: Usage): ConsentList | undefined {
  if (options.research !== true) {
    for (const o of ['consent', 'consent-id', 'consent-column', 'raw-ids']) if (options[o] !== undefined) throw usage(`--${o} is used with --research`);
    return undefined;
  }
  if (typeof options.consent !== 'string') throw usage('refused: a research export needs a consent source: --consent FILE (a CSV of id,consent[,date], or a roster CSV with a consent or research_consent column); without one no student has consented');
  if (options['no-log']) throw usage('refused: a research export is always recorded in the analysis log (its students are needed to recall it if consent is withdrawn)');
  if (options['raw-ids'] && options.pseudonymize) throw usage('--raw-ids and --pseudonymize contradict each other');
  return loadConsent(resolve(options.consent), {
    ...(typeof options['consent-id'] === 'string' ? { idColumn: options['consent-id'] } : {}),
    ...(typeof options['consent-column'] === 'string' ? { column: options['consent-column'] } : {}),
  });
}

/** The pseudonym key; a research export says why it needs one. */
export function researchKey(research: boolean, usage: Usage): Buffer {
  try {
    return pseudonymKey();
  } catch (err) {
    if (!research) throw err;
    throw usage(`refused: a research export is pseudonymized and ${(err as Error).message.replace(/^--pseudonymize needs/, 'needs')}; or pass --raw-ids to export the students' ids on purpose`);
  }
}
