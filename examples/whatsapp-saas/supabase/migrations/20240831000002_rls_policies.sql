-- Row level security and API access.
--   anon          submits leads, runs its own onboarding wizard (session token), sends events,
--                 reads running experiments
--   authenticated the same, plus its own WhatsApp accounts and templates, its own assignments and
--                 the lead data held about its own email address (GDPR right of access)
--   admin         an authenticated user whose app_metadata.role is 'admin' (set with the service
--                 key): the CRM, analytics, experiment management, the audit log
--   service_role  everything (webhooks, workers, maintenance jobs)

-- ---------------------------------------------------------------------------------------------
-- Helpers (in `private`, which the API does not expose)
-- ---------------------------------------------------------------------------------------------
create or replace function private.is_admin()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce((select auth.jwt()) -> 'app_metadata' ->> 'role', '') = 'admin'
$$;

-- The onboarding session token of this request: the `x-session-token` header through the API,
-- or `set app.session_token = '...'` in SQL sessions (psql, tests of policies).
create or replace function private.request_session_token()
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('app.session_token', true), ''),
    nullif(nullif(current_setting('request.headers', true), '')::json ->> 'x-session-token', '')
  )
$$;

-- The client address of this request (first hop of X-Forwarded-For, else X-Real-IP), or null.
create or replace function private.request_ip()
returns inet
language plpgsql
stable
set search_path = ''
as $$
declare
  headers json := nullif(current_setting('request.headers', true), '')::json;
  raw text;
begin
  raw := coalesce(
    nullif(trim(split_part(headers ->> 'x-forwarded-for', ',', 1)), ''),
    nullif(trim(headers ->> 'x-real-ip'), ''));
  return raw::inet;
exception when others then
  return null;
end;
$$;

-- Whether the current request may act on an onboarding session (token holder or linked user).
create or replace function private.owns_onboarding_session(p_session_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from onboarding.sessions s
    where s.id = p_session_id
      and (s.session_token = private.request_session_token() or s.user_id = (select auth.uid()))
  )
$$;

create or replace function private.owns_whatsapp_account(p_account_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from whatsapp.accounts a
    where a.id = p_account_id and a.user_id = (select auth.uid())
  )
$$;

grant usage on schema private to anon, authenticated, service_role;
revoke all on all functions in schema private from public;
grant execute on function private.is_admin(), private.request_session_token(), private.request_ip(),
  private.owns_onboarding_session(uuid), private.owns_whatsapp_account(uuid)
  to anon, authenticated, service_role;
revoke all on private.rate_limit_events from anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Grants: usage of the five schemas; the service role may do everything, the other roles only
-- what is granted below table by table (and then only what the policies allow).
-- ---------------------------------------------------------------------------------------------
grant usage on schema marketing, onboarding, analytics, experiments, whatsapp to anon, authenticated, service_role;

grant all on all tables in schema marketing, onboarding, analytics, experiments, whatsapp to service_role;
grant all on all sequences in schema marketing, onboarding, analytics, experiments, whatsapp to service_role;
grant all on all routines in schema marketing, onboarding, analytics, experiments, whatsapp to service_role;
alter default privileges for role postgres in schema marketing, onboarding, analytics, experiments, whatsapp
  grant all on tables to service_role;
alter default privileges for role postgres in schema marketing, onboarding, analytics, experiments, whatsapp
  grant all on sequences to service_role;
alter default privileges for role postgres in schema marketing, onboarding, analytics, experiments, whatsapp
  grant all on routines to service_role;
-- Functions are not executable by everyone unless granted.
alter default privileges for role postgres in schema marketing, onboarding, analytics, experiments, whatsapp
  revoke execute on routines from public;

-- marketing: the public form may insert these columns and nothing else.
grant insert (email, full_name, company_name, phone, country, company_size, expected_monthly_messages,
              source, utm, metadata, consent_marketing)
  on marketing.leads to anon, authenticated;
grant select, update, delete on marketing.leads to authenticated;
grant select, insert, update, delete on marketing.lead_interactions to authenticated;

-- onboarding: sessions are created by onboarding.start_session(); the wizard updates its steps.
grant select on onboarding.sessions to anon, authenticated;
grant update (current_step, company_name, business_info, bot_config, business_info_completed_at,
              whatsapp_connected_at, bot_setup_completed_at, test_message_sent_at, metadata)
  on onboarding.sessions to anon, authenticated;
grant select, insert on onboarding.step_activities to anon, authenticated;

-- analytics: anyone may send events; reading is for admins.
grant insert (type, name, session_id, user_id, page, referrer, properties, occurred_at)
  on analytics.events to anon, authenticated;
grant select on analytics.events, analytics.metrics, analytics.event_aggregations to authenticated;

-- experiments
grant select on experiments.experiments to anon, authenticated;
grant insert, update, delete on experiments.experiments to authenticated;
grant select on experiments.assignments to authenticated;

-- whatsapp: status, quality and review fields are written by the service (Meta webhooks).
grant select, delete on whatsapp.accounts to authenticated;
grant insert (business_name, waba_id, phone_number_id, display_phone_number, access_token_ciphertext)
  on whatsapp.accounts to authenticated;
grant update (business_name, display_phone_number, access_token_ciphertext)
  on whatsapp.accounts to authenticated;
grant select, delete on whatsapp.templates to authenticated;
grant insert (account_id, name, language, category, components) on whatsapp.templates to authenticated;
grant update (name, language, category, components) on whatsapp.templates to authenticated;

-- public.audit_log: admins read it through RLS; nobody writes it through the API.
revoke all on public.audit_log from anon, authenticated;
grant select on public.audit_log to authenticated;
grant all on public.audit_log to service_role;

-- ---------------------------------------------------------------------------------------------
-- Row level security on every table
-- ---------------------------------------------------------------------------------------------
alter table marketing.leads enable row level security;
alter table marketing.lead_interactions enable row level security;
alter table onboarding.sessions enable row level security;
alter table onboarding.step_activities enable row level security;
alter table analytics.events enable row level security;
alter table analytics.metrics enable row level security;
alter table analytics.event_aggregations enable row level security;
alter table experiments.experiments enable row level security;
alter table experiments.assignments enable row level security;
alter table whatsapp.accounts enable row level security;
alter table whatsapp.templates enable row level security;
alter table public.audit_log enable row level security;
alter table private.rate_limit_events enable row level security;

-- marketing.leads ------------------------------------------------------------------------------
-- Public lead capture. Rate limiting and deduplication happen in the insert triggers (004).
create policy "Visitors submit leads" on marketing.leads
  for insert to anon, authenticated
  with check (status = 'new' and converted_user_id is null);

create policy "Admins read leads" on marketing.leads
  for select to authenticated using ((select private.is_admin()));
create policy "Admins update leads" on marketing.leads
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins delete leads" on marketing.leads
  for delete to authenticated using ((select private.is_admin()));

-- GDPR right of access: a signed-in person sees what is held about their own address.
create policy "People read the lead held about their email" on marketing.leads
  for select to authenticated
  using (lower(email) = lower((select auth.jwt()) ->> 'email'));

-- marketing.lead_interactions ------------------------------------------------------------------
create policy "Admins manage lead interactions" on marketing.lead_interactions
  for all to authenticated
  using ((select private.is_admin())) with check ((select private.is_admin()));

-- onboarding.sessions --------------------------------------------------------------------------
create policy "Session holders read their session" on onboarding.sessions
  for select to anon, authenticated
  using (
    session_token = (select private.request_session_token())
    or user_id = (select auth.uid())
    or (select private.is_admin())
  );

create policy "Session holders update their session" on onboarding.sessions
  for update to anon, authenticated
  using (session_token = (select private.request_session_token()) or user_id = (select auth.uid()))
  with check (session_token = (select private.request_session_token()) or user_id = (select auth.uid()));

-- onboarding.step_activities -------------------------------------------------------------------
create policy "Session holders record activities" on onboarding.step_activities
  for insert to anon, authenticated
  with check (private.owns_onboarding_session(session_id));

create policy "Session holders read their activities" on onboarding.step_activities
  for select to anon, authenticated
  using (private.owns_onboarding_session(session_id) or (select private.is_admin()));

-- analytics ------------------------------------------------------------------------------------
create policy "Anyone sends events as themselves" on analytics.events
  for insert to anon, authenticated
  with check (user_id is null or user_id = (select auth.uid()));

create policy "Admins read events" on analytics.events
  for select to authenticated using ((select private.is_admin()));
create policy "Admins read metrics" on analytics.metrics
  for select to authenticated using ((select private.is_admin()));
create policy "Admins read aggregations" on analytics.event_aggregations
  for select to authenticated using ((select private.is_admin()));

-- experiments ----------------------------------------------------------------------------------
create policy "Anyone reads running experiments" on experiments.experiments
  for select to anon, authenticated
  using (status = 'running' or (select private.is_admin()));
create policy "Admins create experiments" on experiments.experiments
  for insert to authenticated with check ((select private.is_admin()));
create policy "Admins update experiments" on experiments.experiments
  for update to authenticated using ((select private.is_admin())) with check ((select private.is_admin()));
create policy "Admins delete experiments" on experiments.experiments
  for delete to authenticated using ((select private.is_admin()));

create policy "Users read their assignments" on experiments.assignments
  for select to authenticated
  using (user_id = (select auth.uid()) or (select private.is_admin()));

-- whatsapp -------------------------------------------------------------------------------------
create policy "Owners read their accounts" on whatsapp.accounts
  for select to authenticated
  using (user_id = (select auth.uid()) or (select private.is_admin()));
create policy "Users connect accounts for themselves" on whatsapp.accounts
  for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Owners update their accounts" on whatsapp.accounts
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Owners delete their accounts" on whatsapp.accounts
  for delete to authenticated using (user_id = (select auth.uid()));

create policy "Owners read their templates" on whatsapp.templates
  for select to authenticated
  using (private.owns_whatsapp_account(account_id) or (select private.is_admin()));
create policy "Owners create templates" on whatsapp.templates
  for insert to authenticated with check (private.owns_whatsapp_account(account_id));
create policy "Owners edit their templates" on whatsapp.templates
  for update to authenticated
  using (private.owns_whatsapp_account(account_id))
  with check (private.owns_whatsapp_account(account_id));
create policy "Owners delete their templates" on whatsapp.templates
  for delete to authenticated using (private.owns_whatsapp_account(account_id));

-- public.audit_log -----------------------------------------------------------------------------
create policy "Admins read the audit log" on public.audit_log
  for select to authenticated using ((select private.is_admin()));
