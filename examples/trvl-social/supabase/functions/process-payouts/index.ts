// Vendor payouts (service role only: called by a scheduler with the service key). Claims the
// due payouts (public.claim_due_payouts: completed, paid bookings not yet paid out, less
// PLATFORM_FEE_PERCENT, at least the vendor's minimum), sends each as a Stripe transfer to the
// vendor's connected account (POST /v1/transfers, idempotency key = the payout's id) and
// records the outcome (public.finish_payout: paid with the transfer id, or failed with
// Stripe's message; the vendor is notified either way).
import { env, HttpError, json, jwtRole, rest, serve, stripe, StripeError } from '../_shared/stripe.ts';

serve('process-payouts', async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  if (jwtRole(req) !== 'service_role') throw new HttpError(403, 'payouts run with the service role only');
  const claimed = await rest('rpc/claim_due_payouts', { method: 'POST', body: { p_fee_percent: Number(env('PLATFORM_FEE_PERCENT', '10')) } });
  const results = [];
  for (const p of claimed) {
    try {
      const transfer = await stripe('transfers', {
        amount: Math.round(Number(p.amount) * 100),
        currency: p.currency.toLowerCase(),
        destination: p.stripe_account_id,
        transfer_group: `payout_${p.payout_id}`,
        metadata: { payout_transaction_id: p.payout_id, vendor_id: p.vendor_id },
      }, `payout-${p.payout_id}`);
      results.push(await rest('rpc/finish_payout', { method: 'POST', body: { p_payout_id: p.payout_id, p_transfer_id: transfer.id } }));
    } catch (e) {
      const message = e instanceof StripeError ? e.message : String(e);
      results.push(await rest('rpc/finish_payout', { method: 'POST', body: { p_payout_id: p.payout_id, p_transfer_id: null, p_error: message } }));
    }
  }
  return json({ payouts: results });
});
