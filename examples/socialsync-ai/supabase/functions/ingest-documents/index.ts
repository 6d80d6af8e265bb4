// Ingests knowledge-base documents still `processing` (service role only: the cron job calls it
// through pg_net): the file is read from its bucket, split into chunks of at most CHUNK
// characters on paragraph and sentence boundaries (OVERLAP characters carried over), each chunk
// embedded by Gemini (embedContent, RETRIEVAL_DOCUMENT, 768 dimensions, as ai-reply embeds the
// question with RETRIEVAL_QUERY) and stored by public.store_document_chunks, which replaces the
// document's chunks and marks it indexed; a document that cannot be read or embedded is marked
// failed. Text formats (txt, md, csv, json, html) are read as UTF-8; the text of PDF and DOCX
// files is extracted first (_shared/extract.ts).
import { env, json, rest } from '../_shared/backend.ts';
import { extract } from '../_shared/extract.ts';
import { jwtRole } from '../_shared/graph.ts';

const CHUNK = 1000;
const OVERLAP = 150;

export function chunk(text: string): { content: string; start_char: number; end_char: number }[] {
  const out = [];
  let start = 0;
  const clean = text.replace(/\r\n/g, '\n');
  while (start < clean.length) {
    let end = Math.min(start + CHUNK, clean.length);
    if (end < clean.length) {
      const window = clean.slice(start, end);
      const cut = Math.max(window.lastIndexOf('\n\n'), window.lastIndexOf('. '), window.lastIndexOf('\n'));
      if (cut > CHUNK / 2) end = start + cut + 1;
    }
    const content = clean.slice(start, end).trim();
    if (content) out.push({ content, start_char: start, end_char: end });
    if (end >= clean.length) break;
    start = Math.max(end - OVERLAP, start + 1);
  }
  return out;
}

async function embed(text: string): Promise<number[]> {
  const base = env('GEMINI_API_URL', 'https://generativelanguage.googleapis.com').replace(/\/$/, '');
  const res = await fetch(`${base}/v1beta/models/gemini-embedding-001:embedContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': env('GEMINI_API_KEY') },
    body: JSON.stringify({ model: 'models/gemini-embedding-001', content: { parts: [{ text }] }, taskType: 'RETRIEVAL_DOCUMENT', outputDimensionality: 768 }),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`Gemini answered ${res.status}: ${body?.error?.message ?? 'no message'}`);
  const values = body?.embedding?.values;
  if (!Array.isArray(values) || values.length !== 768) throw new Error('the embedding is not 768-dimensional');
  return values;
}

async function download(bucket: string, name: string): Promise<Uint8Array<ArrayBuffer>> {
  const key = env('SUPABASE_SERVICE_ROLE_KEY');
  const res = await fetch(`${env('SUPABASE_URL')}/storage/v1/object/${bucket}/${name.split('/').map(encodeURIComponent).join('/')}`, {
    headers: { apikey: key, authorization: `Bearer ${key}` },
  });
  if (!res.ok) throw new Error(`the file is not readable (${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

Deno.serve(async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') return json({ error: 'ingestion runs with the service role only' }, 403);
  const docs = await rest('rpc/claim_documents_to_ingest', { method: 'POST', body: { p_limit: 5 } });
  const results = [];
  for (const d of docs) {
    try {
      const text = await extract(d.object_name, await download(d.bucket_id ?? 'knowledge-base', d.object_name));
      const pieces = chunk(text);
      if (!pieces.length) throw new Error('the document is empty');
      const chunks = [];
      for (const p of pieces) {
        chunks.push({ ...p, embedding: `[${(await embed(p.content)).join(',')}]`, token_count: Math.ceil(p.content.length / 4) });
      }
      const stored = await rest('rpc/store_document_chunks', { method: 'POST', body: { p_document_id: d.id, p_chunks: chunks } });
      results.push({ id: d.id, status: 'indexed', chunks: stored });
    } catch (e) {
      const error = String((e as Error).message ?? e);
      await rest('rpc/store_document_chunks', { method: 'POST', body: { p_document_id: d.id, p_chunks: [], p_error: error } });
      results.push({ id: d.id, status: 'failed', error });
    }
  }
  return json({ documents: results });
});
