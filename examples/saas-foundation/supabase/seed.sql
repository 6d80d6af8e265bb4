-- Demo data for local development: one account on the pro plan with a month of usage, one on
-- a trial. Both sign in with the password "password123". Their public.users rows are created by
-- the sign-up trigger (migration 0004).
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', 'a1b2c3d4-0000-4000-8000-000000000001', 'authenticated',
   'authenticated', 'maya@acme-analytics.io', extensions.crypt('password123', extensions.gen_salt('bf')),
   now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Maya Chen"}', now() - interval '40 days', now()),
  ('00000000-0000-0000-0000-000000000000', 'a1b2c3d4-0000-4000-8000-000000000002', 'authenticated',
   'authenticated', 'tom@brightloop.dev', extensions.crypt('password123', extensions.gen_salt('bf')),
   now(), '{"provider":"email","providers":["email"]}', '{"full_name":"Tom Okafor"}', now() - interval '3 days', now());

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
       'email', now(), now(), now()
from auth.users u
where u.id in ('a1b2c3d4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000002');

insert into public.subscriptions (user_id, status, plan, lemon_squeezy_id, current_period_start, current_period_end, trial_ends_at)
values
  ('a1b2c3d4-0000-4000-8000-000000000001', 'active', 'pro', 'ls_sub_84213',
   date_trunc('month', now()), date_trunc('month', now()) + interval '1 month', null),
  ('a1b2c3d4-0000-4000-8000-000000000002', 'trial', 'free', null,
   now() - interval '3 days', now() + interval '11 days', now() + interval '11 days');

insert into public.usage_counters (user_id, metric, count, window_start, window_end)
values
  ('a1b2c3d4-0000-4000-8000-000000000001', 'api_calls', 18234, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'),
  ('a1b2c3d4-0000-4000-8000-000000000001', 'agent_runs', 412, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'),
  ('a1b2c3d4-0000-4000-8000-000000000001', 'storage_mb', 734, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month'),
  ('a1b2c3d4-0000-4000-8000-000000000002', 'api_calls', 96, date_trunc('month', now()), date_trunc('month', now()) + interval '1 month');
