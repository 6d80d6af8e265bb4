-- Development data: six leads across the personas the product sells to, their CRM history,
-- three onboarding journeys (completed, in progress, abandoned), a few days of analytics events,
-- two running experiments and a draft, and the WhatsApp account of the converted customer.
-- Accounts (password "password123"): ops@wabridge.io (admin), lena@bellacucina.it (customer).

-- Leads first: the sign-up trigger converts the lead of a new account's address.
insert into marketing.leads (id, email, full_name, company_name, phone, country, company_size,
                             expected_monthly_messages, source, status, utm, consent_marketing, created_at, updated_at)
values
  ('5a1e0000-0000-4000-8000-000000000001', 'lena@bellacucina.it', 'Lena Rossi', 'Bella Cucina Group', '+39 02 4455 6677',
   'IT', '51-200', 12000, 'demo-request', 'qualified', '{"utm_source":"google","utm_campaign":"restaurants-eu"}', true, now() - interval '20 days', now() - interval '15 days'),
  ('5a1e0000-0000-4000-8000-000000000002', 'marc@velocity-parts.de', 'Marc Weber', 'Velocity Parts GmbH', '+49 89 1234 5678',
   'DE', '201-1000', 40000, 'pricing-page', 'contacted', '{"utm_source":"linkedin"}', true, now() - interval '9 days', now() - interval '8 days'),
  ('5a1e0000-0000-4000-8000-000000000003', 'ana@clinicasol.es', 'Ana García', 'Clínica Sol', '+34 91 555 0101',
   'ES', '11-50', 3000, 'website-form', 'new', '{}', false, now() - interval '2 days', now() - interval '2 days'),
  ('5a1e0000-0000-4000-8000-000000000004', 'james@stayinn.co.uk', 'James Patel', 'StayInn Hotels', null,
   'GB', '51-200', 8000, 'webinar', 'new', '{"utm_source":"webinar-2024-08"}', true, now() - interval '1 day', now() - interval '1 day'),
  ('5a1e0000-0000-4000-8000-000000000005', 'info@tiny-bakery.fr', null, 'Tiny Bakery', null,
   'FR', '1-10', 200, 'landing-page', 'unqualified', '{}', false, now() - interval '35 days', now() - interval '34 days'),
  ('5a1e0000-0000-4000-8000-000000000006', 'priya@shopkart.in', 'Priya Nair', 'ShopKart', '+91 98200 12345',
   'IN', '1000+', 250000, 'referral', 'lost', '{"ref":"partner-42"}', true, now() - interval '150 days', now() - interval '120 days');

insert into marketing.lead_interactions (lead_id, type, summary, outcome, occurred_at)
values
  ('5a1e0000-0000-4000-8000-000000000001', 'call', 'Discovery call: 14 restaurants, reservations over WhatsApp', 'demo booked', now() - interval '19 days'),
  ('5a1e0000-0000-4000-8000-000000000001', 'demo', 'Demo of the reservation bot and broadcast templates', 'trial started', now() - interval '15 days'),
  ('5a1e0000-0000-4000-8000-000000000002', 'email', 'Sent pricing for 40k messages a month', 'awaiting reply', now() - interval '8 days'),
  ('5a1e0000-0000-4000-8000-000000000006', 'meeting', 'Needs on-premise deployment; not a fit today', 'closed lost', now() - interval '120 days');

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', '0b5e0000-0000-4000-8000-000000000001', 'authenticated', 'authenticated',
   'ops@wabridge.io', extensions.crypt('password123', extensions.gen_salt('bf')), now(),
   '{"provider":"email","providers":["email"],"role":"admin"}', '{"full_name":"Ops Team"}', now() - interval '90 days', now()),
  ('00000000-0000-0000-0000-000000000000', 'c0570000-0000-4000-8000-000000000001', 'authenticated', 'authenticated',
   'lena@bellacucina.it', extensions.crypt('password123', extensions.gen_salt('bf')), now(),
   '{"provider":"email","providers":["email"]}', '{"full_name":"Lena Rossi"}', now() - interval '14 days', now());

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
       'email', now(), now(), now()
from auth.users u
where u.id in ('0b5e0000-0000-4000-8000-000000000001', 'c0570000-0000-4000-8000-000000000001');

-- Onboarding journeys, as the wizard and the inactivity sweep leave them (inserted whole: the
-- progress trigger would stamp every update as fresh activity).
insert into onboarding.sessions (id, session_token, user_id, lead_id, email, company_name, business_info,
                                 current_step, status, progress_percentage, business_info_completed_at,
                                 whatsapp_connected_at, bot_setup_completed_at, test_message_sent_at,
                                 completed_at, abandoned_at, started_at, last_activity_at)
values
  ('5e550000-0000-4000-8000-000000000001', 'sess_demo_completed_bellacucina', 'c0570000-0000-4000-8000-000000000001',
   '5a1e0000-0000-4000-8000-000000000001', 'lena@bellacucina.it', 'Bella Cucina Group',
   '{"industry":"restaurants","locations":14,"timezone":"Europe/Rome"}', 'completed', 'completed', 100,
   now() - interval '14 days', now() - interval '14 days', now() - interval '13 days', now() - interval '13 days',
   now() - interval '13 days', null, now() - interval '14 days', now() - interval '13 days'),
  ('5e550000-0000-4000-8000-000000000002', 'sess_demo_in_progress_velocity', null,
   '5a1e0000-0000-4000-8000-000000000002', 'marc@velocity-parts.de', 'Velocity Parts GmbH',
   '{"industry":"automotive"}', 'whatsapp_connect', 'in_progress', 25,
   now() - interval '25 minutes', null, null, null,
   null, null, now() - interval '30 minutes', now() - interval '25 minutes'),
  ('5e550000-0000-4000-8000-000000000003', 'sess_demo_abandoned_stayinn', null,
   '5a1e0000-0000-4000-8000-000000000004', 'james@stayinn.co.uk', 'StayInn Hotels',
   '{}', 'business_info', 'abandoned', 0,
   null, null, null, null,
   null, now() - interval '22 hours', now() - interval '1 day', now() - interval '1 day');

insert into onboarding.step_activities (session_id, step, action, field_name, duration_ms, occurred_at)
values
  ('5e550000-0000-4000-8000-000000000001', 'business_info', 'completed', null, 84000, now() - interval '14 days'),
  ('5e550000-0000-4000-8000-000000000001', 'whatsapp_connect', 'completed', null, 192000, now() - interval '14 days'),
  ('5e550000-0000-4000-8000-000000000001', 'bot_setup', 'completed', null, 421000, now() - interval '13 days'),
  ('5e550000-0000-4000-8000-000000000001', 'test_message', 'completed', null, 12000, now() - interval '13 days'),
  ('5e550000-0000-4000-8000-000000000002', 'business_info', 'completed', null, 65000, now() - interval '25 minutes'),
  ('5e550000-0000-4000-8000-000000000002', 'whatsapp_connect', 'viewed', null, null, now() - interval '24 minutes'),
  ('5e550000-0000-4000-8000-000000000003', 'business_info', 'field_completed', 'company_name', 9000, now() - interval '1 day'),
  ('5e550000-0000-4000-8000-000000000003', 'business_info', 'error', 'phone', null, now() - interval '1 day');

-- Three days of website traffic: page views, CTA clicks, demo requests.
insert into analytics.events (type, name, session_id, page, properties, occurred_at)
select (array['page_view', 'page_view', 'page_view', 'user_action', 'conversion'])[1 + (g % 5)]::analytics.event_type,
       (array['page_view', 'page_view', 'page_view', 'cta_click', 'demo_request'])[1 + (g % 5)],
       'web_' || (g % 37),
       (array['/', '/pricing', '/features/chatbots', '/demo', '/blog/whatsapp-api-pricing'])[1 + (g % 5)],
       jsonb_build_object('device', (array['desktop', 'mobile'])[1 + (g % 2)]),
       now() - make_interval(mins => g * 23)
from generate_series(1, 180) as g;
select public.process_pending_events();

-- Experiments.
insert into experiments.experiments (id, key, name, hypothesis, status, variants, target_countries, traffic_percentage, starts_at)
values
  ('e0000000-0000-4000-8000-000000000001', 'pricing-cta', 'Pricing page call to action',
   '"Start free trial" converts better than "Book a demo"', 'running',
   '[{"key":"book_demo","weight":50},{"key":"free_trial","weight":50}]', null, 100, now() - interval '10 days'),
  ('e0000000-0000-4000-8000-000000000002', 'short-onboarding', 'Three-step onboarding in the EU',
   'Merging bot setup and test message raises completion', 'running',
   '[{"key":"control","weight":70},{"key":"three_steps","weight":30}]', array['DE', 'FR', 'IT', 'ES'], 100, now() - interval '5 days'),
  ('e0000000-0000-4000-8000-000000000003', 'whatsapp-widget', 'Floating WhatsApp widget on the blog',
   null, 'draft', '[{"key":"off","weight":50},{"key":"on","weight":50}]', null, 50, null);

select * from public.auto_assign_experiments(user_id := 'c0570000-0000-4000-8000-000000000001', country := 'IT');
select * from public.auto_assign_experiments(session_id := 'web_3', country := 'DE');

-- The converted customer's WhatsApp Business account and templates.
insert into whatsapp.accounts (id, user_id, lead_id, business_name, waba_id, phone_number_id, display_phone_number,
                               access_token_ciphertext, status, quality_rating, messaging_limit_tier, connected_at)
values
  ('a0000000-0000-4000-8000-000000000001', 'c0570000-0000-4000-8000-000000000001', '5a1e0000-0000-4000-8000-000000000001',
   'Bella Cucina Group', '104839202223344', '110293847561122', '+39 02 4455 6677',
   'v1:gcm:7Qk2bW9yZXN0cmljdGVkLWRldi1jaXBoZXJ0ZXh0', 'active', 'GREEN', 'TIER_10K', now() - interval '14 days');

insert into whatsapp.templates (account_id, name, language, category, status, components, meta_template_id, submitted_at, reviewed_at)
values
  ('a0000000-0000-4000-8000-000000000001', 'reservation_confirmation', 'it', 'utility', 'approved',
   '[{"type":"BODY","text":"Ciao {{1}}, la tua prenotazione per {{2}} persone alle {{3}} è confermata."}]',
   '784512369874512', now() - interval '13 days', now() - interval '13 days'),
  ('a0000000-0000-4000-8000-000000000001', 'weekend_menu', 'it', 'marketing', 'draft',
   '[{"type":"BODY","text":"Questo weekend: {{1}}. Prenota ora!"}]', null, null, null);
