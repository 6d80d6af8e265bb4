// invite-collaborator: the trip's owner invites a trip-os user (by email) to view or edit.
// Acts as the owner: the insert goes through row level security (owner only, status pending).
// The invitee is looked up with the service role (users cannot read each other's profiles).
import { HttpError, json, oneOf, readJson, serve, text, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';
import { visibleTrip } from '../_shared/trips.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const tripId = uuid(body, 'trip_id')!;
  const email = text(body, 'email', { max: 320 })!.toLowerCase();
  const permission = oneOf(body, 'permission', ['view', 'edit'] as const, 'view');
  const db = userDb(me.token);
  const trip = await visibleTrip(db, tripId);
  if (trip.user_id !== me.userId) throw new HttpError(403, 'not_trip_owner', 'only the trip owner can invite collaborators');
  const invitee = await serviceDb().one('profiles', { email: eq(email), select: 'id,full_name' });
  if (!invitee) throw new HttpError(404, 'user_not_found', 'no trip-os user has this email; ask them to sign up first');
  if (invitee.id === me.userId) throw new HttpError(400, 'invalid_input', 'you own this trip already');
  try {
    const [invitation] = await db.insert('collaborators', {
      trip_id: tripId, user_id: invitee.id, invited_by: me.userId, permission, status: 'pending',
    });
    return json({ invitation, trip: { id: trip.id, title: trip.title } }, 201);
  } catch (e) {
    if (e instanceof HttpError && e.status === 409) {
      throw new HttpError(409, 'already_invited', 'this user is already invited to or collaborating on the trip');
    }
    throw e;
  }
});
