-- Knowledge base: uploaded documents (files in the private `knowledge-base` bucket, under the
-- owner's id), their chunks with 768-dimension embeddings (Google Gemini) and full-text vectors,
-- and structured FAQ pairs. Hybrid search: match_knowledge_chunks().

create table public.knowledge_documents (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
  title text,
  bucket_id text,
  object_name text,
  storage_object_id uuid references storage.objects (id) on delete set null,
  file_size_bytes bigint not null default 0 check (file_size_bytes >= 0),
  status text not null default 'processing' check (status in ('processing', 'indexed', 'failed')),
  embed_model text not null default 'gemini-embedding-001',
  lang_code text not null default 'simple',
  tsconfig text not null default 'simple',
  last_ingested_at timestamptz not null default now(),
  last_embedded_at timestamptz,
  is_deleted boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A document's file lies in the owner's folder.
  check (object_name is null or split_part(object_name, '/', 1) = user_id::text)
);
create index idx_knowledge_documents_user_status on public.knowledge_documents (user_id, status) where not is_deleted;
create index idx_knowledge_documents_storage_object_id on public.knowledge_documents (storage_object_id);

create table public.knowledge_chunks (
  id uuid primary key default extensions.uuid_generate_v4(),
  document_id uuid not null references public.knowledge_documents (id) on delete cascade,
  chunk_index integer not null check (chunk_index >= 0),
  content text not null,
  embedding extensions.vector(768),
  token_count integer,
  start_char integer,
  end_char integer,
  tsv tsvector,
  lang_code text not null default 'simple',
  tsconfig text not null default 'simple',
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (document_id, chunk_index)
);
create index idx_knowledge_chunks_embedding on public.knowledge_chunks
  using hnsw (embedding extensions.vector_cosine_ops);
create index idx_knowledge_chunks_tsv on public.knowledge_chunks using gin (tsv);

-- Full-text vector in the document's text search configuration.
create or replace function public.knowledge_chunks_set_tsv()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.tsv := to_tsvector(coalesce(nullif(new.tsconfig, ''), 'simple')::regconfig, new.content);
  return new;
end;
$$;
revoke execute on function public.knowledge_chunks_set_tsv() from public, anon, authenticated;

create trigger knowledge_chunks_tsv
  before insert or update of content, tsconfig on public.knowledge_chunks
  for each row execute function public.knowledge_chunks_set_tsv();

create table public.faq_qa (
  id uuid primary key default extensions.uuid_generate_v4(),
  user_id uuid not null default auth.uid() references public.users (id) on delete cascade,
  title text,
  questions text[] not null default '{}',
  answer text not null,
  text_size_bytes integer not null default 0 check (text_size_bytes >= 0),
  lang_code text not null default 'simple',
  tsconfig text not null default 'simple',
  is_active boolean not null default true,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index idx_faq_qa_user_id on public.faq_qa (user_id) where is_active;

alter table public.knowledge_documents enable row level security;
alter table public.knowledge_chunks enable row level security;
alter table public.faq_qa enable row level security;

create policy "Users read their documents" on public.knowledge_documents
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users add documents" on public.knowledge_documents
  for insert to authenticated with check ((select auth.uid()) = user_id and status = 'processing');
create policy "Users update their documents" on public.knowledge_documents
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users delete their documents" on public.knowledge_documents
  for delete to authenticated using ((select auth.uid()) = user_id);

-- Chunks and embeddings are written by the ingestion worker (service role).
create policy "Users read chunks of their documents" on public.knowledge_chunks
  for select to authenticated
  using (document_id in (select id from public.knowledge_documents where user_id = (select auth.uid())));

create policy "Users read their FAQ" on public.faq_qa
  for select to authenticated using ((select auth.uid()) = user_id);
create policy "Users add FAQ entries" on public.faq_qa
  for insert to authenticated with check ((select auth.uid()) = user_id);
create policy "Users update their FAQ" on public.faq_qa
  for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
create policy "Users delete their FAQ" on public.faq_qa
  for delete to authenticated using ((select auth.uid()) = user_id);

-- Hybrid retrieval over the caller's indexed documents: cosine similarity of the embeddings,
-- with full-text matches of query_text (if given) ranked first among equally similar chunks.
-- Runs as the caller, so row level security limits it to their own chunks.
create or replace function public.match_knowledge_chunks(
  query_embedding extensions.vector(768),
  query_text text default null,
  match_count integer default 5,
  min_similarity double precision default 0
)
returns table (
  chunk_id uuid,
  document_id uuid,
  title text,
  content text,
  similarity double precision,
  text_rank real
)
language sql
stable
set search_path = ''
as $$
  select kc.id,
         kc.document_id,
         kd.title,
         kc.content,
         1 - (kc.embedding operator(extensions.<=>) query_embedding) as similarity,
         case when query_text is null then 0
              else ts_rank(kc.tsv, plainto_tsquery(kc.tsconfig::regconfig, query_text)) end as text_rank
  from public.knowledge_chunks kc
  join public.knowledge_documents kd on kd.id = kc.document_id
  where kd.status = 'indexed'
    and not kd.is_deleted
    and kc.embedding is not null
    and 1 - (kc.embedding operator(extensions.<=>) query_embedding) >= min_similarity
  order by kc.embedding operator(extensions.<=>) query_embedding, text_rank desc
  limit least(greatest(match_count, 1), 50)
$$;
revoke execute on function public.match_knowledge_chunks(extensions.vector, text, integer, double precision) from public, anon;
grant execute on function public.match_knowledge_chunks(extensions.vector, text, integer, double precision) to authenticated, service_role;
