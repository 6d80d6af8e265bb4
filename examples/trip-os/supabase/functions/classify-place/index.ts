// classify-place: the place-classifier agent picks the category of a place the user can see;
// on the user's own place it is stored (as the user).
import { json, readJson, serve, uuid, HttpError } from '../_shared/http.ts';
import { requireUser } from '../_shared/auth.ts';
import { eq, userDb } from '../_shared/db.ts';
import { runAgent } from '../_shared/ai.ts';

const CATEGORIES = ['restaurant', 'cafe', 'bar', 'hotel', 'attraction', 'museum', 'park', 'shop', 'transport', 'other'];

serve(['POST'], async (req) => {
  const me = requireUser(req);
  const body = await readJson(req);
  const placeId = uuid(body, 'place_id')!;
  const db = userDb(me.token);
  const place = await db.one('places', { id: eq(placeId), select: 'id,user_id,name,address,city,country_code,category' });
  if (!place) throw new HttpError(404, 'place_not_found', 'no such place, or it is not shared with you');
  const prompt = `Classify this place into exactly one of: ${CATEGORIES.join(', ')}. Answer with the category only.\n` +
    `${place.name}, ${place.address ?? ''}, ${place.city ?? ''} ${place.country_code ?? ''}`;
  const run = await runAgent({
    userId: me.userId, slug: 'place-classifier', input: { place_id: placeId }, prompt,
    parse: (content) => {
      const category = content.trim().toLowerCase().replace(/[^a-z]/g, '');
      if (!CATEGORIES.includes(category)) throw new Error(`unknown category ${JSON.stringify(content.trim())}`);
      return category;
    },
  });
  let applied = false;
  if (place.user_id === me.userId) {
    applied = (await db.update('places', { id: eq(placeId) }, { category: run.output })).length === 1;
  }
  return json({ run_id: run.run_id, category: run.output, previous: place.category, applied, usage: run.usage });
});
