-- basalt platform schema, part 4: realtime. The `supabase_realtime` publication exists from the
-- start so projects' `ALTER PUBLICATION supabase_realtime ADD TABLE ...` works unmodified.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
END
$$;
