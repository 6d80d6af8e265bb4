-- The benchmark schema: 100k items, 10k parents with 5 children each, an append-only events
-- table. Row level security is on everywhere, with policies that read the JWT like real apps do.
create table public.items (
  id bigint primary key,
  category int not null,
  name text not null,
  price numeric(10, 2) not null,
  created_at timestamptz not null default now()
);
create index items_category_id_idx on public.items (category, id desc);
insert into public.items (id, category, name, price)
select i, i % 100, 'item ' || i, (i % 1000) / 10.0 from generate_series(1, 100000) i;

create table public.parents (id bigint primary key, name text not null);
create table public.children (
  id bigint primary key,
  parent_id bigint not null references public.parents (id),
  name text not null
);
create index children_parent_id_idx on public.children (parent_id);
insert into public.parents select i, 'parent ' || i from generate_series(1, 10000) i;
insert into public.children select i, (i % 10000) + 1, 'child ' || i from generate_series(1, 50000) i;

create table public.events (
  id bigint generated always as identity primary key,
  kind text not null,
  payload jsonb not null default '{}',
  created_by uuid default auth.uid(),
  created_at timestamptz not null default now()
);

alter table public.items enable row level security;
alter table public.parents enable row level security;
alter table public.children enable row level security;
alter table public.events enable row level security;
create policy items_read on public.items for select to anon, authenticated using (true);
create policy items_write on public.items for update to authenticated using ((select auth.role()) = 'authenticated');
create policy parents_read on public.parents for select to anon, authenticated using (true);
create policy children_read on public.children for select to anon, authenticated using (true);
create policy events_insert on public.events for insert to authenticated with check ((select auth.uid()) is not null);
analyze;
