// `loflow token create|list|revoke`: dashboard tokens for scripts, kept hashed in <data>/tokens.json, each
// for one teacher and some of their classes. A running `serve` with the same --data sees changes live.
import { join, resolve } from 'node:path';
import { TokenStore } from '../server/api-tokens.js';
import type { Command } from './command.js';

const usage = `loflow token create --teacher T --classes a,b [--note TEXT] [--data DIR]
loflow token list [--data DIR] [--json]
loflow token revoke <id> [--data DIR]

Dashboard tokens for scripts (Authorization: Bearer <token>). Only each token's SHA-256 is stored, in
<data>/tokens.json (default .loflow/tokens.json, the same --data as serve): the token is printed once, at
create. A token reads only the listed classes, and of those only the ones its teacher teaches in the
roster. revoke takes effect on a running server within a second.`;

export const tokenCommand: Command = {
  name: 'token',
  summary: 'create, list or revoke hashed, class-scoped dashboard tokens for scripts',
  usage,
  flags: ['json'],
  requires: ['create|list|revoke'],
  async run({ positionals, options }) {
    const store = new TokenStore(join(resolve(typeof options.data === 'string' ? options.data : '.loflow'), 'tokens.json'));
    const [action, id] = positionals;
    if (action === 'create') {
      const teacher = typeof options.teacher === 'string' ? options.teacher.trim() : '';
      const classes = typeof options.classes === 'string' ? options.classes.split(',').map((c) => c.trim()).filter(Boolean) : [];
      if (!teacher || !classes.length) {
        console.error(`loflow token create needs --teacher T and --classes a,b\n\n${usage}`);
        return 2;
      }
      const { token, record } = store.create(teacher, classes, typeof options.note === 'string' ? options.note : undefined);
      console.log(token);
      console.error(`token ${record.id} for ${teacher} (classes ${classes.join(', ')}), stored hashed in ${store.file}: copy it now, it is not shown again`);
      return 0;
    }
    if (action === 'list') {
      const records = store.list().map(({ sha256: _, ...r }) => r);
      if (options.json) console.log(JSON.stringify(records, null, 2));
      else for (const r of records) console.log(`${r.id}  ${r.revoked ? 'revoked' : 'active '}  ${r.teacher}  ${r.classes.join(',')}  ${r.created}${r.note ? `  ${r.note}` : ''}`);
      return 0;
    }
    if (action === 'revoke') {
      if (!id) {
        console.error('loflow token revoke needs the token id (see loflow token list)');
        return 2;
      }
      if (!store.revoke(id)) {
        console.error(`loflow token: no active token '${id}' in ${store.file}`);
        return 1;
      }
      console.log(`revoked ${id}`);
      return 0;
    }
    console.error(`loflow token: unknown action '${action}'\n\n${usage}`);
    return 2;
  },
};
