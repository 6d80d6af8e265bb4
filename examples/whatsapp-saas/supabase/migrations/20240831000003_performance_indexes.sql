-- Indexes for the expected load: 100-500 leads a day, thousands of events a day, dashboards.

-- marketing: CRM lists, funnel queries, rate limiting and foreign keys.
create index leads_status_created_at_idx on marketing.leads (status, created_at desc);
create index leads_source_created_at_idx on marketing.leads (source, created_at desc);
create index leads_created_at_idx on marketing.leads (created_at desc);
create index leads_ip_address_created_at_idx on marketing.leads (ip_address, created_at desc) where ip_address is not null;
create index leads_converted_user_id_idx on marketing.leads (converted_user_id) where converted_user_id is not null;
create index leads_utm_gin_idx on marketing.leads using gin (utm jsonb_path_ops);
create index lead_interactions_lead_id_occurred_at_idx on marketing.lead_interactions (lead_id, occurred_at desc);
create index lead_interactions_performed_by_idx on marketing.lead_interactions (performed_by);

-- onboarding: token lookups are served by the unique index; drop-off analysis and the
-- inactivity sweep by these.
create index sessions_user_id_idx on onboarding.sessions (user_id) where user_id is not null;
create index sessions_lead_id_idx on onboarding.sessions (lead_id) where lead_id is not null;
create index sessions_lower_email_idx on onboarding.sessions (lower(email)) where email is not null;
create index sessions_in_progress_last_activity_idx on onboarding.sessions (last_activity_at) where status = 'in_progress';
create index sessions_started_at_step_idx on onboarding.sessions (started_at desc, current_step, status);
create index step_activities_session_id_occurred_at_idx on onboarding.step_activities (session_id, occurred_at);
create index step_activities_step_action_idx on onboarding.step_activities (step, action);

-- analytics: time-series scans, the pending-events batch, per-user lookups (GDPR).
create index events_occurred_at_idx on analytics.events (occurred_at desc);
create index events_type_name_occurred_at_idx on analytics.events (type, name, occurred_at desc);
create index events_pending_idx on analytics.events (id) where processed_at is null;
create index events_session_id_idx on analytics.events (session_id) where session_id is not null;
create index events_user_id_idx on analytics.events (user_id) where user_id is not null;
create index events_properties_gin_idx on analytics.events using gin (properties jsonb_path_ops);
create index metrics_metric_period_start_idx on analytics.metrics (metric, period, period_start desc);
create index event_aggregations_type_name_bucket_idx on analytics.event_aggregations (type, name, bucket_start desc);

-- experiments
create index experiments_running_idx on experiments.experiments (status) where status = 'running';
create index experiments_created_by_idx on experiments.experiments (created_by);
create index experiments_target_countries_gin_idx on experiments.experiments using gin (target_countries);
create index assignments_user_id_idx on experiments.assignments (user_id) where user_id is not null;
create index assignments_experiment_variant_idx on experiments.assignments (experiment_id, variant);

-- whatsapp
create index accounts_user_id_idx on whatsapp.accounts (user_id);
create index accounts_lead_id_idx on whatsapp.accounts (lead_id) where lead_id is not null;
create index templates_account_id_status_idx on whatsapp.templates (account_id, status);

-- audit and rate limiting
create index audit_log_table_record_idx on public.audit_log (schema_name, table_name, record_id);
create index audit_log_changed_at_idx on public.audit_log (changed_at desc);
create index rate_limit_events_lookup_idx on private.rate_limit_events (bucket, subject, created_at desc);
create index rate_limit_events_created_at_idx on private.rate_limit_events (created_at);

-- Index health for operators (service role only).
create view public.index_usage_stats
with (security_invoker = true)
as
select s.schemaname,
       s.relname as table_name,
       s.indexrelname as index_name,
       s.idx_scan,
       s.idx_tup_read,
       s.idx_tup_fetch,
       pg_size_pretty(pg_relation_size(s.indexrelid)) as index_size
from pg_catalog.pg_stat_user_indexes s
where s.schemaname in ('marketing', 'onboarding', 'analytics', 'experiments', 'whatsapp', 'public', 'private');

revoke all on public.index_usage_stats from anon, authenticated;
grant select on public.index_usage_stats to service_role;
