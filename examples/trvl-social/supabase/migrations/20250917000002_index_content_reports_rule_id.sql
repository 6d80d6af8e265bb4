-- Built without blocking writes to an existing table: the automated flags of a rule.
create index concurrently if not exists idx_content_reports_rule_id on public.content_reports (rule_id);
