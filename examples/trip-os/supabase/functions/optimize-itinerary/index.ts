// optimize-itinerary: the itinerary-optimizer agent reorders one day of a trip to cut travel
// time. The answer must be {"order": [every item id of the day]}; with apply (default) the
// new order is written as the user, so only the owner and editors can apply it.
import { bool, HttpError, int, json, readJson, serve, uuid } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, userDb } from '../_shared/db.ts';
import { canEdit, itinerary, visibleTrip } from '../_shared/trips.ts';
import { runAgent } from '../_shared/ai.ts';

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const tripId = uuid(body, 'trip_id')!;
  const day = int(body, 'day_number', { min: 1, max: 366 });
  const apply = bool(body, 'apply', true);
  const db = userDb(me.token);
  const trip = await visibleTrip(db, tripId);
  if (apply && !(await canEdit(db, trip, me.userId))) {
    throw new HttpError(403, 'not_trip_editor', 'only the owner and editors can reorder the itinerary (try apply: false)');
  }
  const items = await itinerary(db, tripId, day);
  if (items.length < 2) throw new HttpError(422, 'nothing_to_optimize', `day ${day} has fewer than two items`);
  const ids = items.map((i: any) => i.id);
  const prompt = 'Reorder these items to minimise travel time. Answer with JSON {"order": [ids]} only.\n' +
    JSON.stringify(items.map((i: any) => ({ id: i.id, title: i.title, starts_at: i.starts_at, place: i.place })));
  const run = await runAgent({
    userId: me.userId, slug: 'itinerary-optimizer', tripId, input: { trip_id: tripId, day_number: day }, prompt,
    parse: (content) => {
      const m = content.match(/\{[\s\S]*\}/);
      const order = m ? JSON.parse(m[0]).order : undefined;
      if (!Array.isArray(order) || order.length !== ids.length || new Set(order).size !== ids.length ||
          !order.every((id: unknown) => ids.includes(id))) {
        throw new Error('the order must list every item of the day once');
      }
      return order as string[];
    },
  });
  if (apply) {
    for (const [index, id] of run.output.entries()) {
      const rows = await db.update('trip_items', { id: eq(id), trip_id: eq(tripId) }, { order_index: index });
      if (rows.length !== 1) throw new HttpError(403, 'not_trip_editor', 'the itinerary could not be updated');
    }
  }
  return json({ run_id: run.run_id, order: run.output, applied: apply, usage: run.usage, limits: run.limits });
});
