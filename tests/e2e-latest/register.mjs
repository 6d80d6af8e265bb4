// Registers hooks.mjs so that tests/e2e's files, run from here, import this package's
// supabase-js (the newest release) instead of the one pinned in tests/e2e.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
