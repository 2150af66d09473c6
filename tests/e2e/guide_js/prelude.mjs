// Loaded before a guide snippet (`node --import prelude.mjs snippet.mjs`): the snippets in this
// folder are copied verbatim from plugin-job-guide.md; this supplies what the guide assumes a
// browser page has: a `userToken`, and a fetch whose relative URLs reach the tickwork API.
const baseUrl = process.env.TICKWORK_BASE_URL;
const token = process.env.TICKWORK_TOKEN;
if (!baseUrl || !token) {
  throw new Error('TICKWORK_BASE_URL and TICKWORK_TOKEN must be set');
}

globalThis.userToken = token;

const originalFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const target = typeof input === 'string' && input.startsWith('/') ? new URL(input, baseUrl) : input;
  return originalFetch(target, init);
};
