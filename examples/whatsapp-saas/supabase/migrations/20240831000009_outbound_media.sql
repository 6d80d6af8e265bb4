-- Outbound media: an account's owner puts the file to send in the private bucket
-- `whatsapp-media` under `<account_id>/outbound/`; `whatsapp-api/send` reads it as the owner,
-- uploads it to the Graph API's media endpoint and sends the message by the media id it gets
-- (the message keeps `media_id`, `media_mime_type`, `media_path`, `media_status = 'stored'`).
-- Everything else in the bucket stays the service's to write (inbound media).
create policy "Account owners upload outbound WhatsApp media" on storage.objects
  for insert to authenticated
  with check (
    bucket_id = 'whatsapp-media'
    and (storage.foldername(name))[2] = 'outbound'
    and exists (select 1 from whatsapp.accounts a
                 where a.id::text = (storage.foldername(name))[1] and a.user_id = (select auth.uid()))
  );
