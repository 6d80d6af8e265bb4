// Text out of the knowledge base's uploads: plain text as UTF-8, PDF through unpdf (pdf.js
// built for server runtimes), DOCX read directly: a DOCX is a zip whose word/document.xml holds
// the paragraphs (`w:p`) and their runs' text (`w:t`, `w:tab`, `w:br`).
import { extractText, getDocumentProxy } from 'npm:unpdf@1.8.1';

export const TEXT = /\.(txt|md|markdown|csv|json|html?)$/i;
export const PDF = /\.pdf$/i;
export const DOCX = /\.docx$/i;

/** The document's text by its file name's extension; throws for other formats. */
export async function extract(name: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  if (TEXT.test(name)) return new TextDecoder().decode(bytes);
  if (PDF.test(name)) return await pdfText(bytes);
  if (DOCX.test(name)) return await docxText(bytes);
  throw new Error('unsupported format (text, Markdown, CSV, JSON, HTML, PDF and DOCX are ingested)');
}

async function pdfText(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  let pdf;
  try {
    pdf = await getDocumentProxy(bytes);
  } catch (e) {
    throw new Error(`not a readable PDF: ${(e as Error).message ?? e}`);
  }
  const { text } = await extractText(pdf, { mergePages: false });
  return (text as string[]).map((page) => page.trim()).filter(Boolean).join('\n\n');
}

/** One file of a zip archive (stored or deflated), found through the central directory. */
async function unzip(zip: Uint8Array<ArrayBuffer>, wanted: string): Promise<Uint8Array<ArrayBuffer>> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('not a DOCX (no zip directory)');
  const entries = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  for (let n = 0; n < entries && at + 46 <= zip.length; n++) {
    if (view.getUint32(at, true) !== 0x02014b50) break;
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLen));
    if (name === wanted) {
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      const data = zip.subarray(start, start + size);
      if (method === 0) return new Uint8Array(data);
      if (method !== 8) throw new Error(`unsupported zip compression ${method}`);
      const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`not a DOCX (no ${wanted})`);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescape = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)) : ENTITIES[e] ?? m);

async function docxText(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const xml = new TextDecoder().decode(await unzip(bytes, 'word/document.xml'));
  const paragraphs = xml.match(/<w:p[\s>][\s\S]*?<\/w:p>|<w:p\/>/g) ?? [];
  return paragraphs
    .map((p) => {
      let out = '';
      for (const m of p.matchAll(/<w:t(?:\s[^>]*)?>([\s\S]*?)<\/w:t>|<w:(tab|br|cr)\b[^>]*\/>/g)) {
        out += m[1] !== undefined ? unescape(m[1]) : m[2] === 'tab' ? '\t' : '\n';
      }
      return out.trim();
    })
    .filter(Boolean)
    .join('\n\n');
}
