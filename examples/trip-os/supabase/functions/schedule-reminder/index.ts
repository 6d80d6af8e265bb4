// schedule-reminder: a WhatsApp reminder to the user at run_at (a scheduled job, written with
// the service role; the dispatch cron job sends it through send-whatsapp-message when due).
import { HttpError, json, readJson, serve, text, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { serviceDb, userDb } from '../_shared/db.ts';
import { visibleTrip } from '../_shared/trips.ts';
import { reachableContact } from '../_shared/whatsapp.ts';

const YEAR_MS = 366 * 24 * 3600 * 1000;

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const message = text(body, 'message', { max: 4096 })!;
  const runAtText = text(body, 'run_at', { max: 64 })!;
  const runAt = new Date(runAtText);
  if (Number.isNaN(runAt.getTime()) || !/\d{4}-\d{2}-\d{2}T/.test(runAtText)) {
    throw new HttpError(400, 'invalid_input', 'run_at must be an ISO 8601 date-time', { field: 'run_at' });
  }
  if (runAt.getTime() < Date.now() - 60_000) throw new HttpError(400, 'invalid_input', 'run_at is in the past', { field: 'run_at' });
  if (runAt.getTime() > Date.now() + YEAR_MS) throw new HttpError(400, 'invalid_input', 'run_at is more than a year away', { field: 'run_at' });
  const tripId = uuid(body, 'trip_id', false);
  if (tripId) await visibleTrip(userDb(me.token), tripId);
  // Refuse now rather than fail later when the reminder cannot reach anyone.
  await reachableContact(me.userId);
  const [job] = await serviceDb().insert('scheduled_jobs', {
    user_id: me.userId, trip_id: tripId ?? null, job_type: 'whatsapp_reminder',
    payload: { message }, run_at: runAt.toISOString(),
  });
  return json({ job }, 201);
});
