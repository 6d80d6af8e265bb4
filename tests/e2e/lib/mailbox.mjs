// Email flows as a person meets them: the development mailbox of a running basalt, and links
// followed like a browser follows them.
import assert from 'node:assert/strict';

/** Messages in `inst`'s development mailbox for `email`, newest first. */
export async function mailFor(inst, email) {
  const r = await fetch(`${inst.url}/auth/v1/basalt/mail?email=${encodeURIComponent(email)}`, {
    headers: { apikey: inst.serviceKey, authorization: `Bearer ${inst.serviceKey}` },
  });
  assert.equal(r.status, 200);
  return (await r.json()).messages;
}

/** Follow an email link without following the redirect; returns where it sends the browser. */
export async function follow(link) {
  const r = await fetch(link, { redirect: 'manual' });
  assert.equal(r.status, 303);
  return new URL(r.headers.get('location'));
}
