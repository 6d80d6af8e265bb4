-- Business logic: lead normalisation, deduplication and rate limiting; onboarding progress and
-- auto-advancement; event enrichment and aggregation; experiment auto-assignment; GDPR deletion;
-- the maintenance jobs (run them from a scheduler: see the README, "needs cron").

-- ---------------------------------------------------------------------------------------------
-- Shared helpers
-- ---------------------------------------------------------------------------------------------
create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

-- Count a hit on a public endpoint and refuse it with HTTP 429 (SQLSTATE PT429) once `p_max`
-- hits of the same subject fell within `p_window`. Only requests of the API roles are limited;
-- the service role, imports and maintenance are not.
create or replace function private.hit_rate_limit(p_bucket text, p_subject text, p_max integer, p_window interval)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  recent integer;
begin
  if p_subject is null or coalesce(auth.role(), '') not in ('anon', 'authenticated') then
    return;
  end if;
  perform pg_advisory_xact_lock(hashtextextended(p_bucket || ':' || p_subject, 0));
  select count(*) into recent
  from private.rate_limit_events e
  where e.bucket = p_bucket and e.subject = p_subject and e.created_at > now() - p_window;
  if recent >= p_max then
    raise exception using
      errcode = 'PT429',
      message = 'Too many requests, please try again later',
      detail = format('%s allows %s requests per %s', p_bucket, p_max, p_window);
  end if;
  insert into private.rate_limit_events (bucket, subject) values (p_bucket, p_subject);
end;
$$;

create or replace function private.request_header(p_name text)
returns text
language sql
stable
set search_path = ''
as $$
  select nullif(current_setting('request.headers', true), '')::json ->> p_name
$$;

-- Audit trail: one row per change of an audited table (secrets left out).
create or replace function private.audit_row_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) - 'access_token_ciphertext' end;
  v_new jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) - 'access_token_ciphertext' end;
begin
  insert into public.audit_log (schema_name, table_name, record_id, action, actor, actor_role, old_data, new_data)
  values (tg_table_schema, tg_table_name, coalesce(v_new ->> 'id', v_old ->> 'id'), tg_op,
          auth.uid(), coalesce(auth.role(), current_user), v_old, v_new);
  return null;
end;
$$;

revoke all on function private.set_updated_at(), private.hit_rate_limit(text, text, integer, interval),
  private.request_header(text), private.audit_row_change() from public;
grant execute on function private.request_header(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- marketing: normalisation, scoring, rate limiting, deduplication, audit
-- ---------------------------------------------------------------------------------------------
create or replace function marketing.normalize_lead()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.email := lower(trim(new.email));
  new.full_name := nullif(trim(new.full_name), '');
  new.company_name := nullif(trim(new.company_name), '');
  new.phone := nullif(regexp_replace(coalesce(new.phone, ''), '[^0-9+]', '', 'g'), '');
  new.country := nullif(upper(trim(new.country)), '');
  if new.consent_marketing and new.consent_at is null then
    new.consent_at := now();
  end if;
  -- Fit score: a reachable, sizeable business with real WhatsApp volume ranks first.
  new.score := least(100,
      (case when new.phone is not null then 20 else 0 end)
    + (case when new.company_name is not null then 10 else 0 end)
    + (case new.company_size when '11-50' then 15 when '51-200' then 25 when '201-1000' then 30
                             when '1000+' then 30 else 0 end)
    + (case when coalesce(new.expected_monthly_messages, 0) >= 10000 then 40
            when coalesce(new.expected_monthly_messages, 0) >= 1000 then 25
            when coalesce(new.expected_monthly_messages, 0) > 0 then 10 else 0 end));
  return new;
end;
$$;

-- Public submissions: rate limited (5 per hour per IP address, 3 per hour per email address),
-- stamped with the client address, and merged into the existing lead when the address is known
-- (the insert is then skipped: the visitor learns nothing about existing leads).
create or replace function marketing.capture_lead()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  existing_id uuid;
begin
  if coalesce(auth.role(), '') in ('anon', 'authenticated') then
    new.ip_address := private.request_ip();
    new.user_agent := left(private.request_header('user-agent'), 500);
    perform private.hit_rate_limit('lead_capture:ip', host(new.ip_address), 5, interval '1 hour');
    perform private.hit_rate_limit('lead_capture:email', new.email, 3, interval '1 hour');
  end if;

  update marketing.leads l
  set full_name = coalesce(new.full_name, l.full_name),
      company_name = coalesce(new.company_name, l.company_name),
      phone = coalesce(new.phone, l.phone),
      country = coalesce(new.country, l.country),
      company_size = coalesce(new.company_size, l.company_size),
      expected_monthly_messages = coalesce(new.expected_monthly_messages, l.expected_monthly_messages),
      utm = l.utm || new.utm,
      metadata = l.metadata || new.metadata,
      consent_marketing = l.consent_marketing or new.consent_marketing,
      consent_at = coalesce(l.consent_at, new.consent_at),
      ip_address = coalesce(new.ip_address, l.ip_address),
      user_agent = coalesce(new.user_agent, l.user_agent),
      submission_count = l.submission_count + 1,
      last_submitted_at = now()
  where lower(l.email) = new.email
  returning l.id into existing_id;

  if existing_id is not null then
    return null;
  end if;
  return new;
end;
$$;

-- Triggers fire in name order: normalise, then capture.
create trigger leads_10_normalize
  before insert or update on marketing.leads
  for each row execute function marketing.normalize_lead();
create trigger leads_20_capture
  before insert on marketing.leads
  for each row execute function marketing.capture_lead();
create trigger leads_30_updated_at
  before update on marketing.leads
  for each row execute function private.set_updated_at();
create trigger leads_90_audit
  after insert or update or delete on marketing.leads
  for each row execute function private.audit_row_change();

-- A sign-up whose address was a lead converts it.
create or replace function private.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.email is not null then
    update marketing.leads
    set status = 'converted', converted_user_id = new.id, converted_at = now()
    where lower(email) = lower(new.email) and converted_user_id is null;
  end if;
  return new;
end;
$$;
revoke all on function private.handle_new_user() from public;

create trigger on_auth_user_created_convert_lead
  after insert on auth.users
  for each row execute function private.handle_new_user();

-- ---------------------------------------------------------------------------------------------
-- onboarding: sessions, progress, auto-advancement
-- ---------------------------------------------------------------------------------------------
-- Start the wizard. Returns the session and its token; the client sends the token back as the
-- `x-session-token` header to read and update the session. Rate limited: 10 per hour per IP.
create or replace function onboarding.start_session(
  p_email text default null,
  p_company_name text default null,
  p_utm jsonb default '{}'::jsonb
)
returns table (session_id uuid, session_token text, current_step onboarding.step, progress_percentage smallint)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  s onboarding.sessions;
  v_email text := nullif(lower(trim(p_email)), '');
begin
  perform private.hit_rate_limit('onboarding:ip', host(private.request_ip()), 10, interval '1 hour');
  insert into onboarding.sessions (email, company_name, user_id, lead_id, utm)
  values (v_email, nullif(trim(p_company_name), ''), auth.uid(),
          (select l.id from marketing.leads l where lower(l.email) = v_email),
          coalesce(p_utm, '{}'::jsonb))
  returning * into s;
  return query select s.id, s.session_token, s.current_step, s.progress_percentage;
end;
$$;
grant execute on function onboarding.start_session(text, text, jsonb) to anon, authenticated;

create or replace function onboarding.track_progress()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  done integer;
  first_open onboarding.step;
begin
  new.updated_at := now();
  -- The inactivity sweep marks a session abandoned: that is not activity.
  if new.status = 'abandoned' and old.status is distinct from 'abandoned' then
    return new;
  end if;
  -- Any change by the visitor resumes an abandoned session.
  if new.status = 'abandoned' then
    new.status := 'in_progress';
    new.abandoned_at := null;
  end if;
  new.last_activity_at := now();

  done := (new.business_info_completed_at is not null)::int
        + (new.whatsapp_connected_at is not null)::int
        + (new.bot_setup_completed_at is not null)::int
        + (new.test_message_sent_at is not null)::int;
  new.progress_percentage := done * 25;
  first_open := case
    when new.business_info_completed_at is null then 'business_info'
    when new.whatsapp_connected_at is null then 'whatsapp_connect'
    when new.bot_setup_completed_at is null then 'bot_setup'
    when new.test_message_sent_at is null then 'test_message'
    else 'completed'
  end;
  if done = 4 then
    new.current_step := 'completed';
    new.status := 'completed';
    new.completed_at := coalesce(new.completed_at, now());
  elsif new.current_step = 'completed' then
    new.current_step := first_open;
  else
    -- Never stay on a finished step: advance to the first open one (jumping ahead is allowed).
    new.current_step := greatest(new.current_step, first_open);
  end if;
  return new;
end;
$$;

create trigger sessions_track_progress
  before update on onboarding.sessions
  for each row execute function onboarding.track_progress();

-- ---------------------------------------------------------------------------------------------
-- analytics: enrichment on insert, aggregation in batches
-- ---------------------------------------------------------------------------------------------
create or replace function analytics.enrich_event()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.hit_rate_limit('events:ip', host(private.request_ip()), 1000, interval '1 hour');
  new.occurred_at := least(coalesce(new.occurred_at, now()), now());
  new.event_date := (new.occurred_at at time zone 'UTC')::date;
  new.event_hour := extract(hour from new.occurred_at at time zone 'UTC');
  new.page := coalesce(new.page, new.properties ->> 'page');
  new.referrer := coalesce(new.referrer, new.properties ->> 'referrer', private.request_header('referer'));
  new.context := coalesce(new.context, '{}'::jsonb) || jsonb_strip_nulls(jsonb_build_object(
    'user_agent', left(private.request_header('user-agent'), 500),
    'ip', host(private.request_ip()),
    'country', private.request_header('cf-ipcountry')));
  if new.user_id is null and auth.role() = 'authenticated' then
    new.user_id := auth.uid();
  end if;
  new.processed_at := null;
  return new;
end;
$$;

create trigger events_enrich
  before insert on analytics.events
  for each row execute function analytics.enrich_event();

-- Aggregate up to p_batch_size unprocessed events: recompute the hourly summaries of every hour
-- they fall in, and the daily KPIs of those days. Returns the number of events processed.
-- Needs cron: every 5 minutes.
create or replace function public.process_pending_events(p_batch_size integer default 5000)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_buckets timestamptz[];
  v_count integer;
begin
  with batch as (
    select e.id from analytics.events e
    where e.processed_at is null
    order by e.id
    limit p_batch_size
    for update skip locked
  ), marked as (
    update analytics.events e set processed_at = now()
    from batch where e.id = batch.id
    returning date_trunc('hour', e.occurred_at) as bucket
  )
  select array_agg(distinct m.bucket), count(*) into v_buckets, v_count from marked m;

  if v_count = 0 then
    return 0;
  end if;

  insert into analytics.event_aggregations (bucket_start, type, name, event_count, unique_sessions, unique_users, updated_at)
  select date_trunc('hour', e.occurred_at), e.type, e.name, count(*), count(distinct e.session_id),
         count(distinct e.user_id), now()
  from analytics.events e
  where date_trunc('hour', e.occurred_at) = any (v_buckets) and e.processed_at is not null
  group by 1, 2, 3
  on conflict (bucket_start, type, name) do update
    set event_count = excluded.event_count,
        unique_sessions = excluded.unique_sessions,
        unique_users = excluded.unique_users,
        updated_at = now();

  insert into analytics.metrics (metric, period, period_start, value, computed_at)
  select 'events_total', 'day', d.day, coalesce(sum(a.event_count), 0), now()
  from (select distinct date_trunc('day', b) as day from unnest(v_buckets) as b) d
  left join analytics.event_aggregations a
    on a.bucket_start >= d.day and a.bucket_start < d.day + interval '1 day'
  group by d.day
  on conflict (metric, period, period_start, dimensions) do update
    set value = excluded.value, computed_at = now();

  insert into analytics.metrics (metric, period, period_start, value, computed_at)
  select 'leads_new', 'day', d.day,
         (select count(*) from marketing.leads l where l.created_at >= d.day and l.created_at < d.day + interval '1 day'),
         now()
  from (select distinct date_trunc('day', b) as day from unnest(v_buckets) as b) d
  on conflict (metric, period, period_start, dimensions) do update
    set value = excluded.value, computed_at = now();

  return v_count;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- experiments: deterministic auto-assignment
-- ---------------------------------------------------------------------------------------------
-- Assign a user (or an anonymous analytics session) to every running experiment that targets
-- the country, by a stable hash of the subject, honouring traffic_percentage and the variants'
-- weights. Existing assignments are kept. Signed-in callers may only assign themselves.
create or replace function public.auto_assign_experiments(
  user_id uuid default null,
  session_id text default null,
  country text default null
)
returns table (experiment_key text, variant text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auto_assign_experiments.user_id;
  v_session text := nullif(auto_assign_experiments.session_id, '');
  v_country text := nullif(upper(trim(auto_assign_experiments.country)), '');
  v_subject text;
  v_variant text;
  v_total integer;
  v_acc integer;
  v_pick integer;
  exp record;
  elem jsonb;
begin
  if coalesce(auth.role(), '') in ('anon', 'authenticated') then
    if v_user is not null and v_user is distinct from auth.uid() then
      raise exception using errcode = '42501', message = 'You can only assign experiments to yourself';
    end if;
    v_user := auth.uid();
  end if;
  if v_user is null and v_session is null then
    raise exception using errcode = '22023', message = 'user_id or session_id is required';
  end if;
  v_subject := coalesce(v_user::text, v_session);

  for exp in
    select e.id, e.key, e.variants, e.traffic_percentage
    from experiments.experiments e
    where e.status = 'running'
      and (e.starts_at is null or e.starts_at <= now())
      and (e.ends_at is null or e.ends_at > now())
      and (e.target_countries is null or v_country = any (e.target_countries))
    order by e.key
  loop
    v_variant := null;
    select a.variant into v_variant
    from experiments.assignments a
    where a.experiment_id = exp.id
      and ((v_user is not null and a.user_id = v_user) or (v_user is null and a.session_id = v_session));

    if v_variant is null then
      continue when mod(abs(hashtextextended(exp.key || ':traffic:' || v_subject, 0)), 100) >= exp.traffic_percentage;
      select sum((x ->> 'weight')::integer) into v_total from jsonb_array_elements(exp.variants) x;
      v_pick := mod(abs(hashtextextended(exp.key || ':' || v_subject, 0)), v_total);
      v_acc := 0;
      for elem in select x from jsonb_array_elements(exp.variants) x loop
        v_acc := v_acc + (elem ->> 'weight')::integer;
        if v_pick < v_acc then
          v_variant := elem ->> 'key';
          exit;
        end if;
      end loop;
      insert into experiments.assignments (experiment_id, user_id, session_id, variant, country)
      values (exp.id, v_user, case when v_user is null then v_session end, v_variant, v_country)
      on conflict do nothing;
    end if;

    experiment_key := exp.key;
    variant := v_variant;
    return next;
  end loop;
end;
$$;
revoke all on function public.auto_assign_experiments(uuid, text, text) from public, anon, authenticated;
grant execute on function public.auto_assign_experiments(uuid, text, text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- whatsapp: template review workflow, audit of accounts
-- ---------------------------------------------------------------------------------------------
-- The owner submits a draft (or rejected) template for Meta's review; the review result is
-- written back by the service role from Meta's webhook.
create or replace function whatsapp.submit_template(p_template_id uuid)
returns whatsapp.templates
language plpgsql
security definer
set search_path = ''
as $$
declare
  t whatsapp.templates;
begin
  update whatsapp.templates tt
  set status = 'pending', submitted_at = now(), rejection_reason = null
  where tt.id = p_template_id
    and tt.status in ('draft', 'rejected')
    and private.owns_whatsapp_account(tt.account_id)
  returning tt.* into t;
  if t.id is null then
    raise exception using errcode = 'P0002', message = 'No draft template with this id in your accounts';
  end if;
  return t;
end;
$$;
grant execute on function whatsapp.submit_template(uuid) to authenticated;

-- An edited template goes back to draft: Meta reviews every version.
create or replace function whatsapp.reset_review_on_edit()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(auth.role(), '') in ('anon', 'authenticated')
     and (new.components, new.name, new.language, new.category) is distinct from
         (old.components, old.name, old.language, old.category) then
    new.status := 'draft';
    new.submitted_at := null;
    new.reviewed_at := null;
  end if;
  return new;
end;
$$;

create trigger templates_reset_review
  before update on whatsapp.templates
  for each row execute function whatsapp.reset_review_on_edit();
create trigger templates_updated_at
  before update on whatsapp.templates
  for each row execute function private.set_updated_at();
create trigger accounts_updated_at
  before update on whatsapp.accounts
  for each row execute function private.set_updated_at();
create trigger accounts_audit
  after insert or update or delete on whatsapp.accounts
  for each row execute function private.audit_row_change();
create trigger experiments_updated_at
  before update on experiments.experiments
  for each row execute function private.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Maintenance (needs cron) and GDPR
-- ---------------------------------------------------------------------------------------------
-- Needs cron: every 15 minutes. Marks in-progress sessions idle for longer than p_timeout.
create or replace function public.abandon_inactive_sessions(p_timeout interval default interval '2 hours')
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update onboarding.sessions
  set status = 'abandoned', abandoned_at = now()
  where status = 'in_progress' and last_activity_at < now() - p_timeout;
  get diagnostics n = row_count;
  return n;
end;
$$;

-- Needs cron: daily. 90-day retention of raw analytics, onboarding interactions, abandoned
-- sessions and leads that went nowhere; a day of rate-limit history.
create or replace function public.cleanup_old_data(p_retention interval default interval '90 days')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  result jsonb := '{}'::jsonb;
  n integer;
begin
  delete from analytics.events where occurred_at < now() - p_retention and processed_at is not null;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('events', n);

  delete from onboarding.step_activities where occurred_at < now() - p_retention;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('step_activities', n);

  delete from onboarding.sessions where status = 'abandoned' and last_activity_at < now() - p_retention;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('abandoned_sessions', n);

  delete from marketing.leads where status in ('lost', 'unqualified') and updated_at < now() - p_retention;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('stale_leads', n);

  delete from private.rate_limit_events where created_at < now() - interval '1 day';
  get diagnostics n = row_count;
  result := result || jsonb_build_object('rate_limit_events', n);
  return result;
end;
$$;

-- Right to be forgotten: erase what is held about an email address in every schema (leads and
-- their interactions, onboarding sessions, WhatsApp accounts and templates, experiment
-- assignments), anonymise its analytics events and redact it from the audit trail; record the
-- erasure under a hash of the address. Admins and the service role may erase anyone, a signed-in
-- person their own address. The login itself is removed with the auth admin API.
create or replace function public.gdpr_delete_user_data(p_email text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_email text := nullif(lower(trim(p_email)), '');
  v_role text := coalesce(auth.role(), '');
  v_user uuid;
  result jsonb := '{}'::jsonb;
  n integer;
begin
  if v_email is null then
    raise exception using errcode = '22023', message = 'An email address is required';
  end if;
  if v_role in ('anon', 'authenticated') and not private.is_admin()
     and v_email is distinct from lower((select auth.jwt()) ->> 'email') then
    raise exception using errcode = '42501', message = 'Only an admin may erase the data of another person';
  end if;

  select u.id into v_user from auth.users u where lower(u.email) = v_email limit 1;

  delete from marketing.leads where lower(email) = v_email;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('leads', n);

  delete from onboarding.sessions s
  where lower(s.email) = v_email or (v_user is not null and s.user_id = v_user);
  get diagnostics n = row_count;
  result := result || jsonb_build_object('onboarding_sessions', n);

  delete from experiments.assignments a where v_user is not null and a.user_id = v_user;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('experiment_assignments', n);

  delete from whatsapp.accounts a where v_user is not null and a.user_id = v_user;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('whatsapp_accounts', n);

  update analytics.events e
  set user_id = null,
      properties = e.properties - array['email', 'phone', 'full_name', 'name'],
      context = e.context - array['ip', 'user_agent']
  where (v_user is not null and e.user_id = v_user) or lower(e.properties ->> 'email') = v_email;
  get diagnostics n = row_count;
  result := result || jsonb_build_object('events_anonymized', n);

  update public.audit_log al
  set old_data = null, new_data = null
  where lower(al.old_data ->> 'email') = v_email or lower(al.new_data ->> 'email') = v_email
     or (v_user is not null and (al.old_data ->> 'user_id' = v_user::text or al.new_data ->> 'user_id' = v_user::text));
  get diagnostics n = row_count;
  result := result || jsonb_build_object('audit_entries_redacted', n);

  insert into public.audit_log (schema_name, table_name, record_id, action, actor, actor_role, new_data)
  values ('public', 'gdpr_delete_user_data', encode(sha256(convert_to(v_email, 'UTF8')), 'hex'),
          'GDPR_DELETE', auth.uid(), nullif(v_role, ''), result);
  return result;
end;
$$;

revoke all on function public.process_pending_events(integer), public.abandon_inactive_sessions(interval),
  public.cleanup_old_data(interval), public.gdpr_delete_user_data(text) from public, anon, authenticated;
grant execute on function public.process_pending_events(integer), public.abandon_inactive_sessions(interval),
  public.cleanup_old_data(interval) to service_role;
grant execute on function public.gdpr_delete_user_data(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Realtime: the sales dashboard shows new leads as they arrive (admins only, through RLS).
-- ---------------------------------------------------------------------------------------------
alter publication supabase_realtime add table marketing.leads;
