// Trips as the calling user sees them (row level security decides), and edit rights.
import { HttpError } from './http.ts';
import { Db, eq } from './db.ts';

export async function visibleTrip(db: Db, tripId: string) {
  const trip = await db.one('trips', { id: eq(tripId), select: 'id,user_id,title,destination,start_date,end_date,status' });
  if (!trip) throw new HttpError(404, 'trip_not_found', 'no such trip, or it is not shared with you');
  return trip;
}

/** The owner, or an accepted collaborator with edit permission. */
export async function canEdit(db: Db, trip: { id: string; user_id: string }, userId: string): Promise<boolean> {
  if (trip.user_id === userId) return true;
  const c = await db.one('collaborators', { trip_id: eq(trip.id), user_id: eq(userId), status: eq('accepted') });
  return c?.permission === 'edit';
}

export async function itinerary(db: Db, tripId: string, day?: number) {
  const query: Record<string, string> = {
    trip_id: eq(tripId),
    select: 'id,day_number,order_index,title,item_type,starts_at,place:places(name,city,latitude,longitude)',
    order: 'day_number,order_index',
  };
  if (day !== undefined) query.day_number = eq(day);
  return db.select('trip_items', query);
}
