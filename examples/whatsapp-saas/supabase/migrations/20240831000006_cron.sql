-- Added: the design's automated maintenance as pg_cron jobs (basalt's embedded Postgres preloads
-- pg_cron when it is installed). Without pg_cron the migration still applies and says so; then
-- call the three functions from your own scheduler.
--   process_pending_events()     every 5 minutes (event batches into event_aggregations)
--   abandon_inactive_sessions()  every 15 minutes (2-hour timeout)
--   cleanup_old_data()           daily at 03:15 (90-day retention)
do $cron$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'whatsapp-saas: pg_cron is not available; the maintenance jobs are not installed';
    return;
  end if;
  create extension if not exists pg_cron with schema pg_catalog;
  perform cron.schedule('whatsapp-saas-process-pending-events', '*/5 * * * *', 'select public.process_pending_events()');
  perform cron.schedule('whatsapp-saas-abandon-inactive-sessions', '*/15 * * * *', 'select public.abandon_inactive_sessions()');
  perform cron.schedule('whatsapp-saas-cleanup-old-data', '15 3 * * *', 'select public.cleanup_old_data()');
end
$cron$;
