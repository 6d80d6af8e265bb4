-- Storage buckets and their policies.
--
--   trip-images   private   <trip_id>/<file>   trip members read, owner and editors write
--   place-photos  private   <user_id>/<file>   the user only
--   user-avatars  public    <user_id>/<file>   anyone reads, the user writes their own folder

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values
  ('trip-images', 'trip-images', false, 10485760, array['image/jpeg', 'image/png', 'image/webp', 'image/heic']),
  ('place-photos', 'place-photos', false, 10485760, array['image/jpeg', 'image/png', 'image/webp', 'image/heic']),
  ('user-avatars', 'user-avatars', true, 2097152, array['image/jpeg', 'image/png', 'image/webp'])
on conflict (id) do nothing;

-- The first folder of a trip image is the trip id; anything that is not a uuid matches no trip.
create or replace function private.trip_id_from_path(p_name text)
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
grant execute on function private.trip_id_from_path(text) to anon, authenticated, service_role;

-- trip-images
create policy "Trip members can view trip images" on storage.objects
  for select to authenticated
  using (bucket_id = 'trip-images' and private.can_view_trip(private.trip_id_from_path(name)));
create policy "Trip owners and editors can upload trip images" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'trip-images' and private.can_edit_trip(private.trip_id_from_path(name)));
create policy "Trip owners and editors can replace trip images" on storage.objects
  for update to authenticated
  using (bucket_id = 'trip-images' and private.can_edit_trip(private.trip_id_from_path(name)))
  with check (bucket_id = 'trip-images' and private.can_edit_trip(private.trip_id_from_path(name)));
create policy "Trip owners and editors can delete trip images" on storage.objects
  for delete to authenticated
  using (bucket_id = 'trip-images' and private.can_edit_trip(private.trip_id_from_path(name)));

-- place-photos
create policy "Users can view their own place photos" on storage.objects
  for select to authenticated
  using (bucket_id = 'place-photos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can upload their own place photos" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'place-photos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can replace their own place photos" on storage.objects
  for update to authenticated
  using (bucket_id = 'place-photos' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'place-photos' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can delete their own place photos" on storage.objects
  for delete to authenticated
  using (bucket_id = 'place-photos' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- user-avatars (public bucket: downloads through /object/public need no policy; listing does)
create policy "Anyone can view avatars" on storage.objects
  for select to anon, authenticated
  using (bucket_id = 'user-avatars');
create policy "Users can upload their own avatar" on storage.objects
  for insert to authenticated
  with check (bucket_id = 'user-avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can replace their own avatar" on storage.objects
  for update to authenticated
  using (bucket_id = 'user-avatars' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'user-avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "Users can delete their own avatar" on storage.objects
  for delete to authenticated
  using (bucket_id = 'user-avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
