// Inbound media: the webhook stores a media message with `media_status = 'pending'`
// (migration 20240831000007); this fetches it as the Cloud API documents — GET /{media_id}
// with the account's token gives a short-lived URL, its MIME type and SHA-256; the URL is
// fetched with the same token — checks the hash and stores the bytes in the private bucket
// `whatsapp-media` at `<account_id>/<message_id>` (service role), then marks the message
// `stored` (or `failed` with the reason).
import { env, graph, openToken, rest } from './whatsapp.ts';

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

async function upload(path: string, bytes: Uint8Array, mime: string) {
  const key = env('SUPABASE_SERVICE_ROLE_KEY');
  const res = await fetch(`${env('SUPABASE_URL')}/storage/v1/object/whatsapp-media/${path}`, {
    method: 'POST',
    headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': mime, 'x-upsert': 'true' },
    body: bytes,
  });
  if (!res.ok) throw new Error(`storage answered ${res.status}: ${await res.text()}`);
}

/** Fetch and store one pending message's media; returns the outcome. */
export async function storeMedia(message: { id: string; account_id: string; media_id: string; media_sha256?: string | null; media_attempts?: number }) {
  const tried = { media_attempts: (message.media_attempts ?? 0) + 1, media_tried_at: new Date().toISOString() };
  const patch = (body: Record<string, unknown>) =>
    rest(`messages?id=eq.${message.id}`, { method: 'PATCH', schema: 'whatsapp', body: { ...tried, ...body } });
  try {
    const [account] = await rest(`accounts?select=access_token_ciphertext&id=eq.${message.account_id}`, { schema: 'whatsapp' });
    if (!account?.access_token_ciphertext) throw new Error('the account has no access token');
    const token = await openToken(account.access_token_ciphertext);
    const meta = await graph(encodeURIComponent(message.media_id), { token });
    if (typeof meta?.url !== 'string') throw new Error('the Graph API gave no media URL');
    const res = await fetch(meta.url, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`the media URL answered ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sha = hex(await crypto.subtle.digest('SHA-256', bytes));
    const expected = (meta.sha256 ?? message.media_sha256 ?? '').toLowerCase();
    if (expected && expected !== sha) throw new Error(`the media's SHA-256 is ${sha}, Meta announced ${expected}`);
    const mime = meta.mime_type ?? res.headers.get('content-type') ?? 'application/octet-stream';
    const path = `${message.account_id}/${message.id}`;
    await upload(path, bytes, mime);
    await patch({ media_status: 'stored', media_path: path, media_mime_type: mime, media_sha256: sha, media_error: null });
    return { id: message.id, status: 'stored', path, bytes: bytes.length };
  } catch (e) {
    const reason = String((e as Error).message ?? e);
    console.error(`media ${message.media_id} of message ${message.id}: ${reason}`);
    await patch({ media_status: 'failed', media_error: reason }).catch(() => {});
    return { id: message.id, status: 'failed', error: reason };
  }
}

/** Store the media of the pending inbound messages among `wamids`. */
export async function storePendingMedia(wamids: string[]) {
  if (!wamids.length) return [];
  const list = wamids.map((w) => `"${w.replace(/["\\]/g, '')}"`).join(',');
  const rows = await rest(`messages?select=id,account_id,media_id,media_sha256,media_attempts&media_status=eq.pending&wamid=in.(${encodeURIComponent(list)})`, { schema: 'whatsapp' });
  const out = [];
  for (const row of rows) out.push(await storeMedia(row));
  return out;
}
