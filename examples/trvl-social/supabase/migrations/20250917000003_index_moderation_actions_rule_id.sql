-- Built without blocking writes to an existing table: the automated actions of a rule.
create index concurrently if not exists idx_moderation_actions_rule_id on public.moderation_actions (rule_id);
