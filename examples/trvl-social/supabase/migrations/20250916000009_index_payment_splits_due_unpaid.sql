-- Built without blocking writes to an existing table: the unpaid shares the reminder job scans.
create index concurrently if not exists idx_payment_splits_due_unpaid on public.payment_splits (due_date) where status in ('pending', 'failed');
