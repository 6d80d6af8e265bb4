// accept-invitation: the invitee accepts (or declines) a pending invitation. Acceptance is
// written with the service role (clients cannot set status), for the caller's own invitation
// only. Accepting twice answers the same invitation and changes nothing.
import { bool, HttpError, json, readJson, serve, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const invitationId = uuid(body, 'invitation_id', false);
  const tripId = uuid(body, 'trip_id', false);
  if (!invitationId && !tripId) throw new HttpError(400, 'invalid_input', 'invitation_id or trip_id is required');
  const decline = bool(body, 'decline', false);
  const db = serviceDb();
  const query: Record<string, string> = { user_id: eq(me.userId) };
  if (invitationId) query.id = eq(invitationId);
  if (tripId) query.trip_id = eq(tripId);
  const invitation = await db.one('collaborators', query);
  if (!invitation) throw new HttpError(404, 'invitation_not_found', 'no such invitation for you');
  const wanted = decline ? 'declined' : 'accepted';
  let current = invitation;
  if (invitation.status !== wanted) {
    if (invitation.status !== 'pending') {
      throw new HttpError(409, 'invitation_closed', `the invitation was already ${invitation.status}`);
    }
    [current] = await db.update('collaborators', { id: eq(invitation.id), status: eq('pending') }, {
      status: wanted, accepted_at: decline ? null : new Date().toISOString(),
    });
    if (!current) throw new HttpError(409, 'invitation_closed', 'the invitation changed meanwhile; try again');
  }
  // As the user: an accepted invitation now shows the trip.
  const trip = decline ? null : await userDb(me.token).one('trips', { id: eq(current.trip_id), select: 'id,title,destination' });
  return json({ invitation: current, trip });
});
