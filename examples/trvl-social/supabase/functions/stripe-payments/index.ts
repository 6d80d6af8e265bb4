// Paying for a booking (signed in). POST { booking_id } pays the whole booking (its owner);
// POST { payment_split_id } pays one's share of a split booking (its payer). Payments are
// separate charges and transfers: the PaymentIntent is created on the platform with the
// booking as transfer group (POST /v1/payment_intents, idempotent per booking or split) and
// recorded in stripe_payment_intents with the vendor's connected account and the platform fee
// it will keep; process-payouts later transfers the vendor's part on the vendor's schedule.
// The client_secret is returned for Stripe.js to confirm; the outcome arrives through
// stripe-webhook. What the caller may pay is decided by row level
// security: the booking or split is read with the caller's own token.
import { caller, env, HttpError, json, rest, serve, stripe } from '../_shared/stripe.ts';

serve('stripe-payments', async (req) => {
  if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
  const user = await caller(req);
  if (!user) throw new HttpError(401, 'sign in first');
  const input = await req.json().catch(() => ({}));
  const asCaller = { authorization: req.headers.get('authorization')! };

  let bookingId: string, amount: number, splitId: string | null = null;
  if (input.payment_split_id) {
    const [split] = await rest(`payment_splits?select=id,booking_id,payer_id,amount,status&id=eq.${encodeURIComponent(input.payment_split_id)}`, asCaller);
    if (!split || split.payer_id !== user.id) throw new HttpError(404, 'no such share of yours');
    if (split.status === 'succeeded') throw new HttpError(409, 'this share is paid');
    bookingId = split.booking_id; amount = Number(split.amount); splitId = split.id;
  } else {
    const [booking] = await rest(`bookings?select=id,user_id,total_amount,status&id=eq.${encodeURIComponent(input.booking_id ?? '')}`, asCaller);
    if (!booking || booking.user_id !== user.id) throw new HttpError(404, 'no such booking of yours');
    if (['cancelled', 'refunded'].includes(booking.status)) throw new HttpError(409, `the booking is ${booking.status}`);
    bookingId = booking.id; amount = Number(booking.total_amount);
  }
  const [booking] = await rest(`bookings?select=id,vendor_id,currency&id=eq.${bookingId}`);
  const [account] = await rest(`stripe_accounts?select=id,stripe_account_id,charges_enabled&vendor_id=eq.${booking.vendor_id}`);
  if (!account?.charges_enabled) throw new HttpError(409, 'the vendor cannot take payments yet');

  const cents = Math.round(amount * 100);
  const fee = Math.round(cents * Number(env('PLATFORM_FEE_PERCENT', '10')) / 100);
  const intent = await stripe('payment_intents', {
    amount: cents,
    currency: booking.currency.toLowerCase(),
    automatic_payment_methods: { enabled: true },
    transfer_group: `booking_${bookingId}`,
    metadata: { booking_id: bookingId, payment_split_id: splitId ?? undefined, user_id: user.id },
  }, splitId ? `split-${splitId}` : `booking-${bookingId}`);
  await rest('stripe_payment_intents?on_conflict=stripe_payment_intent_id', {
    method: 'POST', prefer: 'resolution=ignore-duplicates',
    body: { stripe_payment_intent_id: intent.id, booking_id: bookingId, payment_split_id: splitId, user_id: user.id,
            destination_account_id: account.id, amount: cents, application_fee_amount: fee,
            currency: booking.currency, status: intent.status },
  });
  return json({ payment_intent_id: intent.id, client_secret: intent.client_secret, amount: cents, currency: booking.currency });
});
