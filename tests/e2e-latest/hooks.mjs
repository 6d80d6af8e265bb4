// Module resolution hook: `@supabase/*` imported anywhere resolves from this package's
// node_modules, so tests/e2e's test files and helpers run against the supabase-js installed here.
const here = new URL('./package.json', import.meta.url).href;

/** Resolves `@supabase/...` specifiers as if imported from this directory. */
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@supabase/')) return next(specifier, { ...context, parentURL: here });
  return next(specifier, context);
}
