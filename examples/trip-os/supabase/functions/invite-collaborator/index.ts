// invite-collaborator: the trip's owner invites someone (by email) to view or edit.
// Acts as the owner: the insert goes through row level security (owner only, status pending).
// The invitee is looked up with the service role (users cannot read each other's profiles).
// Someone without a trip-os account is invited through auth's admin invite (GoTrue's
// POST /auth/v1/invite, as supabase.auth.admin.inviteUserByEmail does): the account is created
// unconfirmed and the invitation email links to `redirect_to` (default SITE_URL); once they
// have followed it and set a password, accept-invitation opens the trip to them.
import { env, HttpError, httpUrl, json, oneOf, readJson, serve, text, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';
import { visibleTrip } from '../_shared/trips.ts';
import { sendEmail } from '../_shared/notify.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const tripId = uuid(body, 'trip_id')!;
  const email = text(body, 'email', { max: 320 })!.toLowerCase();
  const permission = oneOf(body, 'permission', ['view', 'edit'] as const, 'view');
  const db = userDb(me.token);
  const trip = await visibleTrip(db, tripId);
  if (trip.user_id !== me.userId) throw new HttpError(403, 'not_trip_owner', 'only the trip owner can invite collaborators');
  let invitee = await serviceDb().one('profiles', { email: eq(email), select: 'id,full_name' });
  let invitedByEmail = false;
  if (!invitee) {
    const redirectTo = httpUrl(body, 'redirect_to', env('SITE_URL', 'http://127.0.0.1:3000'));
    invitee = await inviteNewUser(email, redirectTo, { invited_to_trip: tripId, invited_by: me.userId });
    invitedByEmail = true;
  }
  if (invitee.id === me.userId) throw new HttpError(400, 'invalid_input', 'you own this trip already');
  try {
    const [invitation] = await db.insert('collaborators', {
      trip_id: tripId, user_id: invitee.id, invited_by: me.userId, permission, status: 'pending',
    });
    // An existing user hears of it by email too (through the email provider, as their
    // notification preferences allow); an invitation is made whether or not that email goes out.
    let emailed = invitedByEmail;
    if (!invitedByEmail) {
      try {
        await sendEmail({
          userId: invitee.id,
          subject: `You're invited to "${trip.title}" on trip-os`,
          text: `${me.email ?? 'A trip-os user'} invited you to ${permission === 'edit' ? 'plan' : 'follow'} "${trip.title}". Open trip-os to accept.`,
        });
        emailed = true;
      } catch (e) {
        console.log(`invitation email to ${invitee.id} not sent: ${(e as Error).message}`);
      }
    }
    return json({ invitation, trip: { id: trip.id, title: trip.title }, invited_by_email: invitedByEmail, emailed }, 201);
  } catch (e) {
    if (e instanceof HttpError && e.status === 409) {
      throw new HttpError(409, 'already_invited', 'this user is already invited to or collaborating on the trip');
    }
    throw e;
  }
});

/** Create the account unconfirmed and email the invitation link (auth's admin invite). */
async function inviteNewUser(email: string, redirectTo: string, data: Record<string, unknown>) {
  const key = Deno.env.get('SUPABASE_SERVICE_ROLE_KEY')!;
  const url = new URL(`${Deno.env.get('SUPABASE_URL')}/auth/v1/invite`);
  url.searchParams.set('redirect_to', redirectTo);
  const res = await fetch(url, {
    method: 'POST',
    headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email, data }),
  });
  const user = await res.json().catch(() => null);
  if (res.status === 422 || res.status === 400) {
    throw new HttpError(400, 'invalid_input', `email cannot be invited: ${user?.msg ?? user?.message ?? res.status}`, { field: 'email' });
  }
  if (res.status === 429) throw new HttpError(429, 'rate_limited', 'too many invitations: try again later');
  if (!res.ok || !user?.id) throw new HttpError(502, 'invite_failed', `auth answered ${res.status}: ${user?.msg ?? user?.message ?? 'no user'}`);
  return { id: user.id as string, full_name: null };
}
