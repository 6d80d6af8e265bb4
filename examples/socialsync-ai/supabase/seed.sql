-- Development data: the model and pricing catalogue, and one demo account (Sofia, a ceramics
-- studio on Instagram and WhatsApp; password "password123") with conversations, a scheduled and
-- a monitored post, comments, a small indexed knowledge base and an AI Studio thread.
-- Embeddings here are synthetic 768-dimension vectors (deterministic), not Gemini output.

insert into public.ai_models (name, provider, openrouter_id, description, logo_key, credit_cost, model_type, max_context_tokens, supports_images)
values
  ('GPT-4o mini', 'openai', 'openai/gpt-4o-mini', 'Fast and cheap for routine replies', 'openai.svg', 1, 'affordable', 128000, true),
  ('GPT-4o', 'openai', 'openai/gpt-4o', 'Strong all-rounder', 'openai.svg', 5, 'advanced', 128000, true),
  ('Claude 3.5 Haiku', 'anthropic', 'anthropic/claude-3.5-haiku', 'Default: quick, friendly, careful', 'anthropic.svg', 2, 'fast', 200000, false),
  ('Gemini 1.5 Flash', 'google', 'google/gemini-flash-1.5', 'Long context at low cost', 'google.svg', 1, 'affordable', 1000000, true),
  ('Llama 3.1 70B', 'meta', 'meta-llama/llama-3.1-70b-instruct', 'Open weights', 'meta.svg', 2, 'fast', 131072, false);
insert into public.ai_models (name, provider, openrouter_id, credit_cost, model_type, is_active)
values ('GPT-3.5 Turbo', 'openai', 'openai/gpt-3.5-turbo', 1, 'affordable', false);

insert into public.products (id, name, description, source, metadata)
values
  ('prod_starter', 'Starter', 'One Instagram account, 1,000 AI credits a month', 'stripe', '{"credits": 1000, "accounts": 1}'),
  ('prod_pro', 'Pro', 'Five accounts, 10,000 AI credits a month, knowledge base', 'stripe', '{"credits": 10000, "accounts": 5}'),
  ('prod_credits_500', 'Credit pack 500', 'One-off top-up', 'stripe', '{"credits": 500}');
insert into public.prices (id, product_id, unit_amount, currency, type, interval, trial_period_days)
values
  ('price_starter_monthly', 'prod_starter', 1900, 'eur', 'recurring', 'month', 7),
  ('price_pro_monthly', 'prod_pro', 7900, 'eur', 'recurring', 'month', 7),
  ('price_pro_yearly', 'prod_pro', 79000, 'eur', 'recurring', 'year', 7),
  ('price_credits_500', 'prod_credits_500', 900, 'eur', 'one_time', null, 0);

insert into public.checkpoint_migrations (v) select generate_series(0, 9);

-- The demo account: the sign-up trigger creates its profile, settings and trial credits.
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-0000-0000-000000000000', '5f1a0000-0000-4000-8000-000000000001', 'authenticated', 'authenticated',
        'sofia@argilla-studio.com', extensions.crypt('password123', extensions.gen_salt('bf')), now(),
        '{"provider":"email","providers":["email"]}', '{"full_name":"Sofia Marchetti"}', now() - interval '30 days', now());
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('5f1a0000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001',
        '{"sub":"5f1a0000-0000-4000-8000-000000000001","email":"sofia@argilla-studio.com","email_verified":true}',
        'email', now(), now(), now());

insert into public.customers (id, stripe_customer_id) values ('5f1a0000-0000-4000-8000-000000000001', 'cus_QdemoArgilla01');
insert into public.subscriptions (id, user_id, price_id, status, current_period_start, current_period_end)
values ('sub_demoArgilla01', '5f1a0000-0000-4000-8000-000000000001', 'price_pro_monthly', 'active',
        date_trunc('month', now()), date_trunc('month', now()) + interval '1 month');
update public.user_credits set subscription_id = 'sub_demoArgilla01', plan_credits = 10000,
       next_reset_at = date_trunc('month', now()) + interval '1 month'
where user_id = '5f1a0000-0000-4000-8000-000000000001';
select public.add_credits('5f1a0000-0000-4000-8000-000000000001', null, 'monthly_reset', 'Pro plan allowance');
select public.deduct_credits('5f1a0000-0000-4000-8000-000000000001', 2, 'AI reply', '{"model":"anthropic/claude-3.5-haiku","calls_count":1}');

update public.ai_settings
set tone = 'warm', lang = 'it', flagged_keywords = array['spam', 'casino'],
    instructions = 'We ship in Europe only. Workshops run on Saturdays.'
where user_id = '5f1a0000-0000-4000-8000-000000000001';

insert into public.social_accounts (id, user_id, platform, account_id, username, display_name, profile_url, access_token, token_expires_at)
values
  ('5a000000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001', 'instagram', '17841400000000001',
   'argilla.studio', 'Argilla Ceramics', 'https://instagram.com/argilla.studio', 'enc:v1:demo', now() + interval '50 days'),
  ('5a000000-0000-4000-8000-000000000002', '5f1a0000-0000-4000-8000-000000000001', 'whatsapp', '393401234567',
   '+39 340 123 4567', 'Argilla Ceramics', null, 'enc:v1:demo', null);

insert into public.conversations (id, social_account_id, external_conversation_id, customer_identifier, customer_name, status, priority, unread_count, last_message_at, tags)
values
  ('c0000000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001', 'ig_t_1001', 'ig_user_8812', 'giulia.b', 'open', 'normal', 1, now() - interval '2 hours', array['workshop']),
  ('c0000000-0000-4000-8000-000000000002', '5a000000-0000-4000-8000-000000000002', 'wa_t_2001', '+4915112345678', 'Jonas', 'pending', 'high', 0, now() - interval '1 day', array['shipping']);
insert into public.conversation_messages (conversation_id, external_message_id, direction, content, sender_id, sender_name, is_from_agent, status, created_at)
values
  ('c0000000-0000-4000-8000-000000000001', 'ig_m_1', 'inbound', 'Ciao! Is there a workshop this Saturday?', 'ig_user_8812', 'giulia.b', false, 'read', now() - interval '3 hours'),
  ('c0000000-0000-4000-8000-000000000001', 'ig_m_2', 'outbound', 'Yes! 10:00-13:00, two places left.', null, 'Argilla Ceramics', true, 'delivered', now() - interval '170 minutes'),
  ('c0000000-0000-4000-8000-000000000001', 'ig_m_3', 'inbound', 'Great, how do I book?', 'ig_user_8812', 'giulia.b', false, 'delivered', now() - interval '2 hours'),
  ('c0000000-0000-4000-8000-000000000002', 'wa_m_1', 'inbound', 'My order arrived broken, I want a refund now', '+4915112345678', 'Jonas', false, 'read', now() - interval '1 day');

insert into public.ai_decisions (id, user_id, decision, confidence, reason, matched_rule, message_text)
values
  ('d0000000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001', 'escalate', 0.910, 'Refund request for damaged goods', 'refund_or_damage', 'My order arrived broken, I want a refund now'),
  ('d0000000-0000-4000-8000-000000000002', '5f1a0000-0000-4000-8000-000000000001', 'respond', 0.870, 'Question answered by the FAQ', 'faq_match', 'Do you ship to Austria?');
insert into public.support_escalations (user_id, conversation_id, message, confidence, reason, notified)
values ('5f1a0000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000002', 'My order arrived broken, I want a refund now', 0.91, 'urgent_request', true);
update public.conversations set ai_mode = 'OFF' where id = 'c0000000-0000-4000-8000-000000000002';

insert into public.scheduled_posts (id, user_id, channel_id, platform, content_json, publish_at, status, platform_post_id)
values
  ('b0000000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001', 'instagram',
   '{"text":"New autumn glazes are in the kiln 🍂","media":[{"type":"image","url":"https://cdn.example.com/glazes.jpg"}]}',
   now() - interval '2 days', 'published', '18000000000000001'),
  ('b0000000-0000-4000-8000-000000000002', '5f1a0000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001', 'instagram',
   '{"text":"Saturday workshop: throw your first bowl","media":[]}', now() + interval '1 day', 'queued', null);
insert into public.post_runs (scheduled_post_id, started_at, finished_at, status)
values ('b0000000-0000-4000-8000-000000000001', now() - interval '2 days', now() - interval '2 days' + interval '4 seconds', 'success');

insert into public.monitored_posts (id, user_id, social_account_id, platform_post_id, platform, caption, posted_at, source, monitoring_enabled, monitoring_started_at, monitoring_ends_at, next_check_at)
values ('e0000000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001',
        '18000000000000001', 'instagram', 'New autumn glazes are in the kiln 🍂', now() - interval '2 days', 'scheduled', true,
        now() - interval '2 days', now() + interval '5 days', now() + interval '10 minutes');
insert into public.comments (monitored_post_id, platform_comment_id, author_name, text, like_count, triage, ai_reply_text, ai_decision_id, replied_at)
values
  ('e0000000-0000-4000-8000-000000000001', 'igc_1', 'marta.k', 'Do you ship to Austria?', 3, 'respond', 'Yes, everywhere in the EU!', 'd0000000-0000-4000-8000-000000000002', now() - interval '1 day'),
  ('e0000000-0000-4000-8000-000000000001', 'igc_2', 'promo_bot_77', 'Win a free casino bonus!!!', 0, 'ignore', null, null, null);
update public.comments set hidden = true where platform_comment_id = 'igc_2';
insert into public.monitoring_rules (user_id, social_account_id, auto_monitor_count, monitoring_duration_days)
values ('5f1a0000-0000-4000-8000-000000000001', '5a000000-0000-4000-8000-000000000001', 5, 7);

insert into public.analytics (content_id, platform, likes, shares, comments, impressions, reach, engagement_rate)
values ('b0000000-0000-4000-8000-000000000001', 'instagram', 214, 12, 2, 5310, 4120, 0.0552);
insert into public.analytics_history (user_id, content_id, platform, likes, comments, impressions, reach, engagement_rate, recorded_at)
select '5f1a0000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000001', 'instagram',
       70 * d, d, 1800 * d, 1400 * d, 0.05, now() - make_interval(days => 3 - d)
from generate_series(1, 3) as d;
insert into public.topic_analysis (user_id, topic_id, topic_label, topic_keywords, message_count, sample_messages, date_range_start, date_range_end)
values
  ('5f1a0000-0000-4000-8000-000000000001', 0, 'Workshop bookings', array['workshop', 'saturday', 'book'], 42, array['Is there a workshop this Saturday?'], now() - interval '7 days', now()),
  ('5f1a0000-0000-4000-8000-000000000001', 1, 'Shipping and damage', array['shipping', 'broken', 'refund'], 17, array['My order arrived broken'], now() - interval '7 days', now());

-- Knowledge base: one indexed document in three chunks.
insert into public.knowledge_documents (id, user_id, title, bucket_id, object_name, file_size_bytes, status, last_embedded_at)
values ('d0c00000-0000-4000-8000-000000000001', '5f1a0000-0000-4000-8000-000000000001', 'Studio FAQ',
        'knowledge-base', '5f1a0000-0000-4000-8000-000000000001/studio-faq.md', 1840, 'indexed', now());
insert into public.knowledge_chunks (document_id, chunk_index, content, embedding, token_count)
select 'd0c00000-0000-4000-8000-000000000001', k, c,
       (select array_agg(sin(i * (k + 1) * 0.37))::extensions.vector(768) from generate_series(1, 768) as i), 40
from (values (0, 'Workshops run every Saturday from 10:00 to 13:00; book through the link in our bio.'),
             (1, 'We ship everywhere in the European Union within five working days.'),
             (2, 'Damaged on arrival? Send us a photo within 48 hours and we refund or replace it.')) as t(k, c);
insert into public.faq_qa (user_id, title, questions, answer, text_size_bytes)
values ('5f1a0000-0000-4000-8000-000000000001', 'Shipping', array['do you ship to austria', 'shipping to europe'],
        'We ship everywhere in the European Union within five working days.', 74);

-- An AI Studio thread with its LangGraph checkpoint.
insert into public.ai_studio_conversation_metadata (thread_id, user_id, title, model, message_count)
values ('studio-5f1a-0001', '5f1a0000-0000-4000-8000-000000000001', 'Caption ideas for autumn', 'openai/gpt-4o', 2);
insert into public.checkpoints (thread_id, checkpoint_id, type, checkpoint, metadata)
values ('studio-5f1a-0001', '1ef9a3b2-0000-6000-8000-000000000001', 'json',
        '{"v":1,"channel_values":{"messages":["Give me three captions","1) Glaze season…"]}}', '{"source":"loop","step":1}');
