-- trip-os seed: two travellers planning a Lisbon weekend together, the AI agents, and a
-- subscription. Passwords are "trip-os-demo" (local development only).

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', 'a1111111-1111-4111-8111-111111111111', 'authenticated', 'authenticated',
   'maya@trip-os.test', extensions.crypt('trip-os-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "Maya Duarte"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'b2222222-2222-4222-8222-222222222222', 'authenticated', 'authenticated',
   'leo@trip-os.test', extensions.crypt('trip-os-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "Leo Martin"}', now(), now());

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values
  ('a1111111-1111-4111-8111-111111111111', 'a1111111-1111-4111-8111-111111111111',
   '{"sub": "a1111111-1111-4111-8111-111111111111", "email": "maya@trip-os.test", "email_verified": true}', 'email', now(), now(), now()),
  ('b2222222-2222-4222-8222-222222222222', 'b2222222-2222-4222-8222-222222222222',
   '{"sub": "b2222222-2222-4222-8222-222222222222", "email": "leo@trip-os.test", "email_verified": true}', 'email', now(), now(), now());

-- Profiles and preferences were created by the sign-up trigger; fill in some details.
update public.profiles set home_city = 'Porto', timezone = 'Europe/Lisbon' where id = 'a1111111-1111-4111-8111-111111111111';
update public.profiles set home_city = 'Lyon', timezone = 'Europe/Paris' where id = 'b2222222-2222-4222-8222-222222222222';
update public.user_preferences set currency = 'EUR', travel_style = '{food,culture}', pace = 'relaxed'
 where user_id = 'a1111111-1111-4111-8111-111111111111';

insert into public.ai_agents (id, slug, name, description, model, system_prompt, temperature) values
  ('c0000000-0000-4000-8000-000000000001', 'trip-planner', 'Trip planner', 'Drafts a day-by-day itinerary', 'gpt-4o-mini',
   'You plan realistic day-by-day itineraries.', 0.7),
  ('c0000000-0000-4000-8000-000000000002', 'itinerary-optimizer', 'Itinerary optimizer', 'Reorders a day to cut travel time', 'gpt-4o-mini',
   'You reorder itinerary items to minimise travel time.', 0.2),
  ('c0000000-0000-4000-8000-000000000003', 'trip-summarizer', 'Trip summarizer', 'Summarises a trip for sharing', 'gpt-4o-mini',
   'You write short, friendly trip summaries.', 0.5),
  ('c0000000-0000-4000-8000-000000000004', 'place-classifier', 'Place classifier', 'Assigns a category to a place', 'gpt-4o-mini',
   'You classify places into one category.', 0.0);

insert into public.places (id, user_id, name, category, address, city, country_code, latitude, longitude) values
  ('d0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'Time Out Market', 'restaurant',
   'Av. 24 de Julho 49', 'Lisbon', 'PT', 38.7069, -9.1459),
  ('d0000000-0000-4000-8000-000000000002', 'a1111111-1111-4111-8111-111111111111', 'Belém Tower', 'attraction',
   'Av. Brasília', 'Lisbon', 'PT', 38.6916, -9.2160),
  ('d0000000-0000-4000-8000-000000000003', 'b2222222-2222-4222-8222-222222222222', 'LX Factory', 'shop',
   'R. Rodrigues de Faria 103', 'Lisbon', 'PT', 38.7036, -9.1785);

insert into public.trips (id, user_id, title, description, destination, start_date, end_date, status, budget_amount, budget_currency) values
  ('e0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'Lisbon long weekend',
   'Pastéis, miradouros and one fado night', 'Lisbon, Portugal', '2025-05-02', '2025-05-05', 'planning', 900, 'EUR'),
  ('e0000000-0000-4000-8000-000000000002', 'b2222222-2222-4222-8222-222222222222', 'Alps hut-to-hut',
   null, 'Chamonix, France', '2025-07-10', '2025-07-17', 'booked', 1400, 'EUR');

insert into public.collaborators (trip_id, user_id, invited_by, permission, status, accepted_at) values
  ('e0000000-0000-4000-8000-000000000001', 'b2222222-2222-4222-8222-222222222222',
   'a1111111-1111-4111-8111-111111111111', 'edit', 'accepted', now());

insert into public.trip_items (id, trip_id, created_by, place_id, day_number, order_index, title, item_type) values
  ('f0000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111',
   'd0000000-0000-4000-8000-000000000001', 1, 0, 'Lunch at Time Out Market', 'meal'),
  ('f0000000-0000-4000-8000-000000000002', 'e0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111',
   'd0000000-0000-4000-8000-000000000002', 1, 1, 'Belém Tower at sunset', 'activity'),
  ('f0000000-0000-4000-8000-000000000003', 'e0000000-0000-4000-8000-000000000001', 'b2222222-2222-4222-8222-222222222222',
   'd0000000-0000-4000-8000-000000000003', 2, 0, 'Browse LX Factory', 'activity');

insert into public.votes (trip_id, trip_item_id, user_id, value) values
  ('e0000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000002', 'b2222222-2222-4222-8222-222222222222', 1),
  ('e0000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000003', 'a1111111-1111-4111-8111-111111111111', 1);

insert into public.collections (id, user_id, trip_id, name) values
  ('10000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 'Lisbon eats');
insert into public.saved_places (user_id, place_id, collection_id, category, notes, rating) values
  ('a1111111-1111-4111-8111-111111111111', 'd0000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001',
   'restaurant', 'Go early, it gets packed', 4);

insert into public.tags (id, user_id, name, color) values
  ('20000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'city-break', '#f97316');
insert into public.trip_tags (trip_id, tag_id) values
  ('e0000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000001');

insert into public.ai_runs (id, user_id, agent_id, trip_id, status, input, output, started_at, finished_at) values
  ('30000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'c0000000-0000-4000-8000-000000000001',
   'e0000000-0000-4000-8000-000000000001', 'succeeded', '{"days": 3}', '{"items": 3}', now() - interval '2 minutes', now() - interval '1 minute');
insert into public.ai_messages (run_id, user_id, trip_id, role, content, sequence) values
  ('30000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001',
   'user', 'Plan three relaxed days in Lisbon.', 0),
  ('30000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001',
   'assistant', 'Day 1: Time Out Market, then Belém at sunset…', 1);
insert into public.token_usage (user_id, run_id, model, prompt_tokens, completion_tokens, cost_usd) values
  ('a1111111-1111-4111-8111-111111111111', '30000000-0000-4000-8000-000000000001', 'gpt-4o-mini', 812, 403, 0.000364);

insert into public.stripe_customers (user_id, stripe_customer_id, email) values
  ('a1111111-1111-4111-8111-111111111111', 'cus_demo_maya', 'maya@trip-os.test');
insert into public.subscriptions (user_id, stripe_subscription_id, stripe_price_id, plan, status, current_period_start, current_period_end) values
  ('a1111111-1111-4111-8111-111111111111', 'sub_demo_maya', 'price_explorer_monthly', 'explorer', 'active',
   date_trunc('month', now()), date_trunc('month', now()) + interval '1 month');
insert into public.usage_limits (user_id, period_start, period_end, ai_runs_limit, ai_runs_used, tokens_used) values
  ('a1111111-1111-4111-8111-111111111111', date_trunc('month', now()), date_trunc('month', now()) + interval '1 month', 100, 1, 1215);

insert into public.whatsapp_contacts (user_id, phone_e164, opted_in, opted_in_at, verified_at) values
  ('a1111111-1111-4111-8111-111111111111', '+351912345678', true, now(), now());
insert into public.automation_rules (user_id, trip_id, name, trigger_type, trigger_config, action, action_config) values
  ('a1111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 'Packing reminder',
   'days_before_trip', '{"days": 2}', 'whatsapp_message', '{"template": "packing_reminder"}');
update public.notification_preferences set whatsapp_enabled = true
 where user_id = 'a1111111-1111-4111-8111-111111111111';

-- Where the cron jobs call edge functions (Vault): `basalt start` on the default port, with the
-- service key config.toml's local JWT secret gives. Started on another port or with another
-- secret (BASALT_JWT_SECRET), store what `basalt start` prints instead:
--   select private.set_function_secrets('http://127.0.0.1:<port>', '<service_role key>');
select private.set_function_secrets(
  'http://127.0.0.1:54321',
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJiYXNhbHQiLCJyb2xlIjoic2VydmljZV9yb2xlIiwiaWF0IjoxNzM1Njg5NjAwLCJleHAiOjIwNTEyMjI0MDB9.eTCC0IDxSBa-1tGJvrLPSIEJSHKMB4hncdvuZnHSOnY');
