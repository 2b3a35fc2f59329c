#!/usr/bin/env node
// The CLI is written in TypeScript and compiled to dist/ by `npm install` (prepare) or `npm run build`.
import('../dist/engine/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/engine')) {
    console.error('loflow is not built yet: run `npm run build` (npm install does it for you).');
    process.exit(2);
  }
  throw err;
});
