// Media of inbound direct messages into the private `conversation-media` bucket, at
// `<user id>/<message id>` (the owner reads it there; storage policies of migration 09):
//   * WhatsApp: the Cloud API's `GET /{media-id}` (account token) gives a short-lived URL, the
//     MIME type and SHA-256; the URL is fetched with the same token and the hash checked;
//   * Instagram: the attachment's `payload.url` (a CDN URL) is fetched as it is.
// claim_dm_media picks what is due (at most 3 attempts, a minute apart); record_dm_media stores
// the object name and MIME type, or the reason it failed.
import { env, rest } from './backend.ts';
import { graph } from './graph.ts';

type Due = {
  id: string; user_id: string; platform: string; access_token: string | null; message_type: string;
  media_url: string | null; media_id: string | null; media_mime: string | null; media_sha256: string | null;
};

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

async function upload(path: string, bytes: Uint8Array<ArrayBuffer>, mime: string) {
  const key = env('SUPABASE_SERVICE_ROLE_KEY');
  const res = await fetch(`${env('SUPABASE_URL')}/storage/v1/object/conversation-media/${path}`, {
    method: 'POST',
    headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': mime, 'x-upsert': 'true' },
    body: bytes,
  });
  if (!res.ok) throw new Error(`storage answered ${res.status}: ${await res.text()}`);
}

async function fetchOne(m: Due) {
  try {
    let url = m.media_url;
    let mime = m.media_mime;
    let sha = m.media_sha256;
    const headers: Record<string, string> = {};
    if (m.media_id) {
      if (!m.access_token) throw new Error('the account has no access token');
      const meta = await graph(encodeURIComponent(m.media_id), m.access_token);
      if (typeof meta?.url !== 'string') throw new Error('the Graph API gave no media URL');
      url = meta.url;
      mime = meta.mime_type ?? mime;
      sha = meta.sha256 ?? sha;
      headers.authorization = `Bearer ${m.access_token}`;
    }
    if (!url) throw new Error('the message names no media');
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`the media URL answered ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const got = hex(await crypto.subtle.digest('SHA-256', bytes));
    if (sha && sha.toLowerCase() !== got) throw new Error(`the media's SHA-256 is ${got}, Meta announced ${sha}`);
    mime = (mime ?? res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0].trim();
    const path = `${m.user_id}/${m.id}`;
    await upload(path, bytes, mime);
    await rest('rpc/record_dm_media', { method: 'POST', body: { p_message_id: m.id, p_object_name: path, p_mime: mime } });
    return { id: m.id, status: 'stored', path, bytes: bytes.length };
  } catch (e) {
    const reason = String((e as Error).message ?? e);
    await rest('rpc/record_dm_media', { method: 'POST', body: { p_message_id: m.id, p_object_name: null, p_mime: null, p_error: reason } }).catch(() => {});
    return { id: m.id, status: 'failed', error: reason };
  }
}

/** Download what is due (only the messages `ids` when given). */
export async function fetchDueMedia(ids?: string[]) {
  const due: Due[] = await rest('rpc/claim_dm_media', { method: 'POST', body: { p_limit: 20, p_ids: ids ?? null } });
  const out = [];
  for (const m of due) out.push(await fetchOne(m));
  return out;
}
