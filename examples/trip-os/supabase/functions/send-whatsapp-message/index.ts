// send-whatsapp-message: a message to the user's own opted-in WhatsApp number. Called by the
// user ({message, trip_id?}) or by the dispatch cron job with the service key ({job_id}) for a
// due reminder; the plan's monthly messages are taken (402 past the limit).
import { HttpError, json, readJson, serve, text, uuid } from '../_shared/http.ts';
import { actingFor, caller, isService } from '../_shared/auth.ts';
import { userDb } from '../_shared/db.ts';
import { visibleTrip } from '../_shared/trips.ts';
import { deliver } from '../_shared/whatsapp.ts';
import { performJob } from '../_shared/jobs.ts';

serve(['POST'], async (req) => {
  const who = caller(req);
  const body = await readJson(req);
  if (body.job_id !== undefined) {
    if (!isService(who)) throw new HttpError(403, 'forbidden', 'only the scheduler sends a job');
    return performJob(uuid(body, 'job_id')!, async (job) => {
      const message = job.payload?.message;
      if (typeof message !== 'string' || !message) throw new HttpError(422, 'invalid_job', 'the job has no message');
      const sent = await deliver({ userId: job.user_id, text: message, tripId: job.trip_id, jobId: job.id });
      return { message_id: sent.id, wa_message_id: sent.wa_message_id };
    });
  }
  const message = text(body, 'message', { max: 4096 })!;
  const tripId = uuid(body, 'trip_id', false);
  const userId = actingFor(who, body);
  if (tripId && !isService(who)) await visibleTrip(userDb(who.token), tripId);
  const sent = await deliver({ userId, text: message, tripId });
  return json({ message: sent });
});
