// summarize-trip: the trip-summarizer agent writes a short summary of a trip the user can
// see; it is kept in the user's AI memory for the trip (key trip_summary).
import { json, readJson, serve, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';
import { itinerary, visibleTrip } from '../_shared/trips.ts';
import { runAgent } from '../_shared/ai.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const tripId = uuid(body, 'trip_id')!;
  const db = userDb(me.token);
  const trip = await visibleTrip(db, tripId);
  const items = await itinerary(db, tripId);
  const lines = items.map((i: any) => `Day ${i.day_number}: ${i.title}${i.place ? ` (${i.place.name})` : ''}`);
  const prompt = `Summarise this trip in three sentences.\nTrip: ${trip.title}, ${trip.destination ?? ''}, ` +
    `${trip.start_date ?? '?'} to ${trip.end_date ?? '?'}.\n${lines.join('\n') || 'No itinerary yet.'}`;
  const run = await runAgent({
    userId: me.userId, slug: 'trip-summarizer', tripId, input: { trip_id: tripId, items: items.length }, prompt,
    parse: (content) => content.trim(),
  });
  const svc = serviceDb();
  const memory = { user_id: me.userId, trip_id: tripId, key: 'trip_summary', content: { summary: run.output, run_id: run.run_id } };
  const existing = await svc.one('ai_memory', { user_id: eq(me.userId), trip_id: eq(tripId), key: eq('trip_summary') });
  if (existing) await svc.update('ai_memory', { id: eq(existing.id) }, { content: memory.content });
  else await svc.insert('ai_memory', memory);
  return json({ run_id: run.run_id, summary: run.output, usage: run.usage, limits: run.limits });
});
