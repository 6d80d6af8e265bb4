-- trvl-social seed: two travellers, a vendor with two adventures, an admin, and a little
-- social activity. Passwords are "trvl-demo" (local development only).

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', '11111111-1111-4111-8111-111111111111', 'authenticated', 'authenticated',
   'ana@trvl.test', extensions.crypt('trvl-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"username": "ana_wanders", "full_name": "Ana Souza"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', '22222222-2222-4222-8222-222222222222', 'authenticated', 'authenticated',
   'ben@trvl.test', extensions.crypt('trvl-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"username": "ben_outdoors", "full_name": "Ben Okafor"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', '33333333-3333-4333-8333-333333333333', 'authenticated', 'authenticated',
   'kai@andestrails.test', extensions.crypt('trvl-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"username": "andes_trails", "full_name": "Kai Mendoza"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', '44444444-4444-4444-8444-444444444444', 'authenticated', 'authenticated',
   'mod@trvl.test', extensions.crypt('trvl-demo', extensions.gen_salt('bf')), now(),
   '{"provider": "email", "providers": ["email"]}', '{"username": "trvl_mod", "full_name": "Trvl Moderation"}', now(), now());

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true), 'email', now(), now(), now()
  from auth.users u
 where u.id in ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222',
                '33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444');

-- Profiles were created by the sign-up trigger.
update public.profiles set bio = 'Chasing sunrises on foot.', location = 'Lisbon, Portugal' where id = '11111111-1111-4111-8111-111111111111';
update public.profiles set bio = 'Kayaks, tents, bad coffee.', location = 'Lagos, Nigeria' where id = '22222222-2222-4222-8222-222222222222';
update public.profiles set role = 'vendor', is_verified = true, location = 'Cusco, Peru' where id = '33333333-3333-4333-8333-333333333333';
update public.profiles set role = 'admin' where id = '44444444-4444-4444-8444-444444444444';

insert into public.vendors (id, user_id, business_name, description, email, location, status, stripe_account_id) values
  ('aaaaaaaa-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', 'Andes Trails Co.',
   'Small-group treks in the Sacred Valley', 'hello@andestrails.test', 'Cusco, Peru', 'active', 'acct_demo_andes');

insert into public.adventures (id, vendor_id, title, description, category, difficulty, location, duration_hours,
                               max_participants, price_per_person, currency) values
  ('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001', 'Salkantay Trek to Machu Picchu',
   'Five days over the Salkantay pass', 'hiking', 'challenging', 'Cusco, Peru', 120, 12, 650.00, 'USD'),
  ('bbbbbbbb-0000-4000-8000-000000000002', 'aaaaaaaa-0000-4000-8000-000000000001', 'Sacred Valley by bike',
   'A downhill day through Maras and Moray', 'cycling', 'moderate', 'Urubamba, Peru', 7, 8, 89.00, 'USD');

insert into public.adventure_availability (adventure_id, available_date, start_time, spots_total, spots_booked) values
  ('bbbbbbbb-0000-4000-8000-000000000001', '2025-06-02', '05:00', 12, 2),
  ('bbbbbbbb-0000-4000-8000-000000000002', '2025-06-10', '08:30', 8, 0);

insert into public.adventure_media (adventure_id, storage_path, media_type, caption, sort_order) values
  ('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001/salkantay-pass.jpg', 'image', 'Salkantay pass at 4,600 m', 0);

insert into public.vendor_certifications (vendor_id, name, issuer, issued_on, expires_on, verified_at) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'Wilderness First Responder', 'NOLS', '2024-01-15', '2026-01-15', now());
insert into public.vendor_insurance (vendor_id, provider, policy_number, coverage_amount, valid_from, valid_until, verified_at) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'Pacifico Seguros', 'PS-88231-AT', 1000000, '2025-01-01', '2025-12-31', now());
insert into public.payout_schedules (vendor_id, frequency, minimum_amount) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'weekly', 100);

-- A completed booking by Ana, paid and reviewed.
insert into public.bookings (id, user_id, vendor_id, adventure_id, booking_date, participants, special_requests) values
  ('cccccccc-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'aaaaaaaa-0000-4000-8000-000000000001',
   'bbbbbbbb-0000-4000-8000-000000000001', '2025-06-02', 2, 'Vegetarian meals');
update public.bookings set status = 'completed' where id = 'cccccccc-0000-4000-8000-000000000001';
insert into public.booking_participants (booking_id, profile_id, full_name, email) values
  ('cccccccc-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'Ana Souza', 'ana@trvl.test'),
  ('cccccccc-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'Ben Okafor', 'ben@trvl.test');
insert into public.booking_payments (booking_id, user_id, amount, currency, status, stripe_payment_intent_id, paid_at) values
  ('cccccccc-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 1300.00, 'USD', 'succeeded', 'pi_demo_ana', now());
insert into public.payment_splits (booking_id, payer_id, amount, status, paid_at) values
  ('cccccccc-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 650.00, 'succeeded', now());
insert into public.reviews (booking_id, adventure_id, vendor_id, user_id, rating, title, body) values
  ('cccccccc-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001',
   '11111111-1111-4111-8111-111111111111', 5, 'Worth every step', 'Kai''s team made the pass feel easy.');
insert into public.payout_transactions (vendor_id, amount, fee_amount, status, stripe_transfer_id, period_start, period_end, booking_ids, paid_at) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 1235.00, 65.00, 'paid', 'tr_demo_1', '2025-06-01', '2025-06-07',
   array['cccccccc-0000-4000-8000-000000000001']::uuid[], now());

-- Groups, assessments, compatibility.
insert into public.groups (id, owner_id, adventure_id, name, description, privacy) values
  ('dddddddd-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'bbbbbbbb-0000-4000-8000-000000000001',
   'Salkantay June crew', 'Early risers welcome', 'public');
insert into public.group_members (group_id, user_id, role, status) values
  ('dddddddd-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'member', 'active');
insert into public.personality_assessments (user_id, openness, conscientiousness, extraversion, agreeableness, neuroticism) values
  ('11111111-1111-4111-8111-111111111111', 82, 64, 58, 77, 31),
  ('22222222-2222-4222-8222-222222222222', 75, 52, 71, 69, 40);
insert into public.travel_preferences (user_id, travel_styles, interests, budget_min, budget_max, preferred_group_size) values
  ('11111111-1111-4111-8111-111111111111', '{adventure,slow}', '{hiking,photography}', 300, 1500, '[4,10]'),
  ('22222222-2222-4222-8222-222222222222', '{adventure}', '{kayaking,hiking}', 200, 900, '[2,8]');
insert into public.compatibility_scores (user_a, user_b, group_id, score, breakdown, model_version) values
  ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'dddddddd-0000-4000-8000-000000000001',
   84.5, '{"personality": 81, "interests": 90, "budget": 78}', 'compat-v2');

-- Social.
insert into public.user_connections (requester_id, addressee_id, status, responded_at) values
  ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'accepted', now());
insert into public.posts (id, user_id, adventure_id, content, visibility) values
  ('eeeeeeee-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'bbbbbbbb-0000-4000-8000-000000000001',
   'Made it over Salkantay pass! 4,600 m and snow in June.', 'public'),
  ('eeeeeeee-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', null,
   'Packing list for the crew, friends only.', 'connections');
insert into public.post_likes (post_id, user_id) values
  ('eeeeeeee-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222');
insert into public.comments (post_id, user_id, content) values
  ('eeeeeeee-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'Legend. Saving this for next year.');

-- WhatsApp.
insert into public.whatsapp_contacts (id, user_id, wa_id, phone_e164, display_name, opted_in, opted_in_at) values
  ('ffffffff-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '351912000111', '+351912000111', 'Ana', true, now());
insert into public.whatsapp_conversations (id, contact_id, user_id, booking_id, last_message_at) values
  ('ffffffff-0000-4000-8000-000000000002', 'ffffffff-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
   'cccccccc-0000-4000-8000-000000000001', now());
insert into public.whatsapp_messages (conversation_id, direction, message_type, template_name, body, status) values
  ('ffffffff-0000-4000-8000-000000000002', 'outbound', 'template', 'booking_reminder', 'Your Salkantay trek starts in 2 days!', 'delivered');

insert into public.automated_moderation_rules (name, content_type, pattern, action, created_by) values
  ('crypto-spam', 'post', '(?i)free\s+crypto', 'hide', '44444444-4444-4444-8444-444444444444');
