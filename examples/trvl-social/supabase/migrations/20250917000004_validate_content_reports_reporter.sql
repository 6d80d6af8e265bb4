-- Every report names its reporter unless a moderation rule filed it (added NOT VALID by
-- migration 20250917000001).
alter table public.content_reports validate constraint content_reports_reporter_or_automated;
