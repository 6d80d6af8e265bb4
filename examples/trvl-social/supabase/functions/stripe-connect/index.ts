// Stripe Connect onboarding for vendors (signed in). POST: the caller's active vendor gets an
// Express connected account (POST /v1/accounts, once; recorded in stripe_accounts) and a fresh
// onboarding link (POST /v1/account_links; recorded in stripe_account_onboarding), whose URL is
// returned. Completion arrives through stripe-webhook (account.updated).
import { caller, env, HttpError, json, rest, serve, stripe } from '../_shared/stripe.ts';

serve('stripe-connect', async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const user = await caller(req);
  if (!user) throw new HttpError(401, 'sign in first');
  const [vendor] = await rest(`vendors?select=id,status,email,business_name&user_id=eq.${user.id}`);
  if (!vendor) throw new HttpError(403, 'only vendors connect a Stripe account');
  if (vendor.status !== 'active') throw new HttpError(409, `the vendor is ${vendor.status}, not active`);

  let [account] = await rest(`stripe_accounts?select=id,stripe_account_id&vendor_id=eq.${vendor.id}`);
  if (!account) {
    const created = await stripe('accounts', {
      type: 'express',
      email: vendor.email ?? user.email,
      business_profile: { name: vendor.business_name },
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
      metadata: { vendor_id: vendor.id },
    }, `vendor-account-${vendor.id}`);
    [account] = await rest('stripe_accounts?select=id,stripe_account_id', {
      method: 'POST', prefer: 'return=representation',
      body: { vendor_id: vendor.id, stripe_account_id: created.id, country: created.country ?? 'US',
              default_currency: (created.default_currency ?? 'usd').toUpperCase() },
    });
  }
  const site = env('SITE_URL', 'http://127.0.0.1:3000');
  const link = await stripe('account_links', {
    account: account.stripe_account_id,
    refresh_url: `${site}/vendor/payments?refresh=1`,
    return_url: `${site}/vendor/payments?done=1`,
    type: 'account_onboarding',
  });
  await rest('stripe_account_onboarding', {
    method: 'POST',
    body: { stripe_account_id: account.id, status: 'link_created', link_url: link.url, link_expires_at: new Date(link.expires_at * 1000).toISOString() },
  });
  return json({ stripe_account_id: account.stripe_account_id, url: link.url, expires_at: link.expires_at });
});
