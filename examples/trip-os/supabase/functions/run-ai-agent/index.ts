// run-ai-agent: run one of the AI agents on the user's prompt (optionally about a trip they
// can see). The plan's monthly AI runs are taken first (402 past the limit); the run, its
// messages and token usage are recorded with the service role.
import { json, readJson, serve, text, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { userDb } from '../_shared/db.ts';
import { visibleTrip } from '../_shared/trips.ts';
import { runAgent } from '../_shared/ai.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const slug = text(body, 'agent', { max: 60 })!;
  const prompt = text(body, 'prompt', { max: 4000 })!;
  const tripId = uuid(body, 'trip_id', false);
  let context = '';
  if (tripId) {
    const trip = await visibleTrip(userDb(me.token), tripId);
    context = `Trip: ${trip.title} (${trip.destination ?? 'no destination yet'}, ${trip.start_date ?? '?'} to ${trip.end_date ?? '?'}).\n`;
  }
  const run = await runAgent({
    userId: me.userId, slug, tripId, input: { agent: slug, prompt },
    prompt: context + prompt, parse: (content) => content,
  });
  return json(run);
});
