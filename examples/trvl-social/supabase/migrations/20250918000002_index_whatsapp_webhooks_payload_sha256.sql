-- One stored WhatsApp delivery per body (whatsapp-webhook answers a repeat as a duplicate); built
-- concurrently, as an index on an existing table should be.
create unique index concurrently if not exists idx_whatsapp_webhooks_payload_sha256 on public.whatsapp_webhooks (payload_sha256);
