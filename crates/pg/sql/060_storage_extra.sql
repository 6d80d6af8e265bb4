-- basalt platform schema: what the storage service needs beyond Supabase's storage tables.
-- The storage service may connect as supabase_storage_admin (as storage-api does) and runs each
-- request as the caller's role, so that role must be able to switch to the API roles.
GRANT anon, authenticated, service_role TO supabase_storage_admin;
