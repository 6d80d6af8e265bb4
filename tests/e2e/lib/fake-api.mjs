// A stand-in for a third-party HTTP API (WhatsApp Graph API, Stripe, an AI provider) that a
// test starts on a loopback port: it records every request it receives (method, path, query,
// headers, raw and parsed body) and answers with what `route` returns.
import { createServer } from 'node:http';

/**
 * route(call) → { status = 200, body, headers } | undefined (404 with an error body).
 * Returns { url, calls, to(pathPart), close() }.
 */
export async function startFakeApi(route) {
  const calls = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://fake');
      let body = raw;
      const type = req.headers['content-type'] ?? '';
      if (type.includes('json')) { try { body = JSON.parse(raw); } catch { /* keep the text */ } }
      else if (type.includes('x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(raw));
      const call = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, raw, body };
      calls.push(call);
      let answer;
      try { answer = await route(call); } catch (e) { answer = { status: 500, body: { error: String(e) } }; }
      answer ??= { status: 404, body: { error: { message: `fake: no route for ${req.method} ${url.pathname}` } } };
      const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
      res.writeHead(answer.status ?? 200, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json', ...(answer.headers ?? {}) });
      res.end(payload);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    /** Calls whose path contains `part`. */
    to: (part) => calls.filter((c) => c.path.includes(part)),
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
