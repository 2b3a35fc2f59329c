// Replace a file's content atomically and durably: written to a temporary file beside it, fsync'ed, renamed
// over it, the folder fsync'ed. A crash leaves the old or the new content, never a mix. Erasure rewrites
// log segments and dead-letter files this way; the old content's disk blocks are freed, not overwritten
// (README "Erasure": limits).
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.erase-tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } catch {
    // some file systems cannot fsync a folder: the rename is still atomic
  } finally {
    await dir.close();
  }
}
