-- Built without blocking writes to an existing table: the open votes with a deadline, which the
-- automation evaluation scans every minute.
create index concurrently if not exists idx_trip_items_voting_closes_at on public.trip_items (voting_closes_at)
  where voting_closes_at is not null and voting_closed_at is null;
