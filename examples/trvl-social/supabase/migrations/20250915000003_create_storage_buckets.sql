-- Storage buckets and policies.
--
--   avatars           public    <user_id>/<file>     anyone reads, users write their own folder
--   adventure-media   public    <vendor_id>/<file>   anyone reads, the vendor writes
--   vendor-documents  private   <vendor_id>/<file>   the vendor and admins read, the vendor writes
--   user-uploads      private   <user_id>/<file>     the user only
--   system-media      public    any                  anyone reads, only the service role writes

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values
  ('avatars', 'avatars', true, 2097152, array['image/jpeg', 'image/png', 'image/webp']),
  ('adventure-media', 'adventure-media', true, 52428800, array['image/jpeg', 'image/png', 'image/webp', 'video/mp4']),
  ('vendor-documents', 'vendor-documents', false, 10485760, array['application/pdf', 'image/jpeg', 'image/png']),
  ('user-uploads', 'user-uploads', false, 20971520, null),
  ('system-media', 'system-media', true, null, null)
on conflict (id) do nothing;

-- The first folder of an object path as a uuid, or null when it is not one.
create or replace function private.first_folder_uuid(p_name text)
returns uuid
language plpgsql
immutable
set search_path = ''
as $$
declare
  first_folder text := (storage.foldername(p_name))[1];
begin
  if first_folder ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then
    return first_folder::uuid;
  end if;
  return null;
end;
$$;
grant execute on function private.first_folder_uuid(text) to anon, authenticated, service_role;

-- avatars
create policy "Avatar images are publicly accessible" on storage.objects
  for select to anon, authenticated using (bucket_id = 'avatars');
create policy "Users can upload their own avatar" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can update their own avatar" on storage.objects
  for update to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can delete their own avatar" on storage.objects
  for delete to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- adventure-media
create policy "Adventure media is publicly accessible" on storage.objects
  for select to anon, authenticated using (bucket_id = 'adventure-media');
create policy "Vendors can upload adventure media" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'adventure-media' and private.is_vendor_owner(private.first_folder_uuid(name)));
create policy "Vendors can update adventure media" on storage.objects
  for update to authenticated
  using (bucket_id = 'adventure-media' and private.is_vendor_owner(private.first_folder_uuid(name)))
  with check (bucket_id = 'adventure-media' and private.is_vendor_owner(private.first_folder_uuid(name)));
create policy "Vendors can delete adventure media" on storage.objects
  for delete to authenticated
  using (bucket_id = 'adventure-media' and private.is_vendor_owner(private.first_folder_uuid(name)));

-- vendor-documents
create policy "Vendors and admins can read vendor documents" on storage.objects
  for select to authenticated
  using (bucket_id = 'vendor-documents'
    and (private.is_vendor_owner(private.first_folder_uuid(name)) or (select private.is_admin())));
create policy "Vendors can upload vendor documents" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'vendor-documents' and private.is_vendor_owner(private.first_folder_uuid(name)));
create policy "Vendors can update vendor documents" on storage.objects
  for update to authenticated
  using (bucket_id = 'vendor-documents' and private.is_vendor_owner(private.first_folder_uuid(name)))
  with check (bucket_id = 'vendor-documents' and private.is_vendor_owner(private.first_folder_uuid(name)));
create policy "Vendors can delete vendor documents" on storage.objects
  for delete to authenticated
  using (bucket_id = 'vendor-documents' and private.is_vendor_owner(private.first_folder_uuid(name)));

-- user-uploads
create policy "Users can read their own uploads" on storage.objects
  for select to authenticated
  using (bucket_id = 'user-uploads' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can upload to their own folder" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'user-uploads' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can update their own uploads" on storage.objects
  for update to authenticated
  using (bucket_id = 'user-uploads' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'user-uploads' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can delete their own uploads" on storage.objects
  for delete to authenticated
  using (bucket_id = 'user-uploads' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- system-media
create policy "System media is publicly accessible" on storage.objects
  for select to anon, authenticated using (bucket_id = 'system-media');
