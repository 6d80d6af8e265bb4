// Outbound media messages (image, audio, video, document), as the Cloud API documents them:
// the message object names its media by `link` (a public http(s) URL Meta fetches) or by `id`,
// a media id from an upload — `POST /{phone_number_id}/media`, multipart with
// `messaging_product=whatsapp`, `type=<MIME type>` and `file` — answered `{id}`. Uploads come
// from the private bucket `whatsapp-media`, where an account's owner may put files under
// `<account_id>/outbound/` (migration 20240831000009); they are read as the caller, so row level
// security decides what can be sent. Meta's limits are checked first: the MIME types each type
// accepts and their sizes (image 5 MB, audio and video 16 MB, document 100 MB); a caption only on
// images, videos and documents; a filename only on documents.
import { env, graph } from './whatsapp.ts';

const MB = 1024 * 1024;

/** Meta's supported media per message type. */
export const MEDIA_TYPES: Record<string, { mimes: string[]; maxBytes: number; caption: boolean; filename: boolean }> = {
  image: { mimes: ['image/jpeg', 'image/png'], maxBytes: 5 * MB, caption: true, filename: false },
  audio: { mimes: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg'], maxBytes: 16 * MB, caption: false, filename: false },
  video: { mimes: ['video/mp4', 'video/3gpp'], maxBytes: 16 * MB, caption: true, filename: false },
  document: {
    mimes: ['text/plain', 'application/pdf', 'application/msword', 'application/vnd.ms-excel', 'application/vnd.ms-powerpoint',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation'],
    maxBytes: 100 * MB, caption: true, filename: true,
  },
};

/** A request the caller got wrong (answered with its status, nothing sent). */
export class MediaRefusal extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export interface MediaRequest {
  type: string;
  link?: string;
  path?: string;
  caption?: string;
  filename?: string;
}

/** Check `media` of a send request against Meta's rules; `accountId` owns any upload. */
export function parseMedia(media: any, accountId: string): MediaRequest {
  if (!media || typeof media !== 'object' || Array.isArray(media)) throw new MediaRefusal(400, 'media must be an object');
  const spec = MEDIA_TYPES[media.type];
  if (!spec) throw new MediaRefusal(400, `media.type must be one of ${Object.keys(MEDIA_TYPES).join(', ')}`);
  const has = (k: string) => media[k] !== undefined && media[k] !== null;
  if (has('link') === has('path')) throw new MediaRefusal(400, 'media needs exactly one of link (a URL) or path (an uploaded file)');
  const out: MediaRequest = { type: media.type };
  if (has('link')) {
    let url: URL | null = null;
    try { url = new URL(String(media.link)); } catch { /* below */ }
    if (!url || !['http:', 'https:'].includes(url.protocol)) throw new MediaRefusal(400, 'media.link must be an http(s) URL');
    out.link = url.toString();
  } else {
    const path = String(media.path);
    if (!path.startsWith(`${accountId}/outbound/`) || path.includes('..')) {
      throw new MediaRefusal(400, `media.path must be a file under ${accountId}/outbound/ in the whatsapp-media bucket`);
    }
    out.path = path;
  }
  for (const [field, allowed, max] of [['caption', spec.caption, 1024], ['filename', spec.filename, 240]] as const) {
    if (!has(field)) continue;
    if (!allowed) throw new MediaRefusal(400, `a ${media.type} message carries no ${field}`);
    if (typeof media[field] !== 'string' || !media[field].trim() || media[field].length > max) {
      throw new MediaRefusal(400, `media.${field} must be a non-empty string of at most ${max} characters`);
    }
    out[field] = media[field].trim();
  }
  return out;
}

/** The caller's file from the bucket (read with their token: 404 when they cannot reach it). */
async function download(path: string, authorization: string) {
  const res = await fetch(`${env('SUPABASE_URL')}/storage/v1/object/authenticated/whatsapp-media/${path.split('/').map(encodeURIComponent).join('/')}`, {
    headers: { apikey: env('SUPABASE_ANON_KEY'), authorization },
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new MediaRefusal(404, `no such file ${path}`);
  }
  const mime = (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  return { bytes: new Uint8Array(await res.arrayBuffer()), mime };
}

const details = (media: MediaRequest) =>
  ({ ...(media.caption ? { caption: media.caption } : {}), ...(media.filename ? { filename: media.filename } : {}) });

/** What is meant to be sent, as recorded when the upload itself fails at Meta (the file by its path). */
export function intendedMessage(media: MediaRequest): Record<string, any> {
  return { type: media.type, [media.type]: { ...(media.link ? { link: media.link } : { path: media.path }), ...details(media) } };
}

/**
 * The Graph message object for `media` (without `to`): by link, or uploaded to the number's
 * media endpoint first. Returns it with what was uploaded (media id, MIME type, path).
 */
export async function mediaMessage(media: MediaRequest, phoneNumberId: string, token: string, authorization: string) {
  const spec = MEDIA_TYPES[media.type];
  const extra = details(media);
  if (media.link) return { message: { type: media.type, [media.type]: { link: media.link, ...extra } }, upload: null };
  const file = await download(media.path!, authorization);
  if (!spec.mimes.includes(file.mime)) {
    throw new MediaRefusal(400, `a ${media.type} must be one of ${spec.mimes.join(', ')}, not ${file.mime || 'unknown'}`);
  }
  if (file.bytes.length > spec.maxBytes) throw new MediaRefusal(400, `a ${media.type} may be at most ${spec.maxBytes / MB} MB`);
  const form = new FormData();
  form.append('messaging_product', 'whatsapp');
  form.append('type', file.mime);
  form.append('file', new Blob([file.bytes], { type: file.mime }), media.filename ?? media.path!.split('/').pop()!);
  const uploaded = await graph(`${phoneNumberId}/media`, { method: 'POST', token, form });
  if (typeof uploaded?.id !== 'string') throw new Error('the Graph API answered the upload without a media id');
  return {
    message: { type: media.type, [media.type]: { id: uploaded.id, ...extra } },
    upload: { media_id: uploaded.id, media_mime_type: file.mime, media_path: media.path! },
  };
}
