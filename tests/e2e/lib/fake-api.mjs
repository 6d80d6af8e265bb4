// A stand-in for a third-party HTTP API (WhatsApp Graph API, Stripe, an AI provider) that a
// test starts on a loopback port: it records every request it receives (method, path, query,
// headers, raw bytes, raw text and parsed body) and answers with what `route` returns.
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';

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
      const bytes = Buffer.concat(chunks);
      const raw = bytes.toString('utf8');
      const url = new URL(req.url, 'http://fake');
      let body = raw;
      const type = req.headers['content-type'] ?? '';
      if (type.includes('json')) { try { body = JSON.parse(raw); } catch { /* keep the text */ } }
      else if (type.includes('x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(raw));
      const call = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, bytes, raw, body };
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

/** Stripe's `Stripe-Signature` header for `body`: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`. */
export function stripeSignature(secret, body, t = Math.floor(Date.now() / 1000)) {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** POST a raw webhook body with `headers` (a null value leaves the header out); status and JSON. */
export async function postWebhook(url, body, headers = {}) {
  const sent = { 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(headers)) if (v !== null && v !== undefined) sent[k] = v;
  const res = await fetch(url, { method: 'POST', headers: sent, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}
