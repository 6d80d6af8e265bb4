insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'demo@example.com', '{}', '{}', now(), now());
insert into public.todos (user_id, task) values
  ('00000000-0000-4000-8000-000000000001', 'Try basalt'),
  ('00000000-0000-4000-8000-000000000001', 'Point supabase-js at http://127.0.0.1:54321');
