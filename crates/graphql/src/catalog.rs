//! What the database holds, as one role sees it: the exposed schemas' tables and views with their
//! columns, keys, foreign keys and comment directives, enums, and functions. Read in one
//! statement ([`CATALOG_SQL`]) that Postgres renders as JSON; privileges are asked for the
//! requesting role, so each role gets the schema pg_graphql would reflect for it.

use serde::Deserialize;

/// `$1`: the exposed schemas, `$2`: the role whose privileges decide what is visible.
pub const CATALOG_SQL: &str = r#"
with s as (
  select n.oid, n.nspname, obj_description(n.oid, 'pg_namespace') as comment
  from pg_namespace n where n.nspname = any($1::text[])
)
select json_build_object(
  'schemas', (select coalesce(json_agg(json_build_object('name', s.nspname, 'comment', s.comment)
                order by array_position($1::text[], s.nspname::text)), '[]') from s),
  'tables', (select coalesce(json_agg(t order by t.schema, t.name), '[]') from (
    select c.oid::int8 as oid, s.nspname as schema, c.relname as name, c.relkind::text as kind,
      obj_description(c.oid, 'pg_class') as comment,
      c.relrowsecurity as rls,
      has_table_privilege($2, c.oid, 'SELECT') as can_select,
      has_table_privilege($2, c.oid, 'INSERT') as can_insert,
      has_table_privilege($2, c.oid, 'UPDATE') as can_update,
      has_table_privilege($2, c.oid, 'DELETE') as can_delete,
      coalesce((select json_agg(json_build_object(
          'name', a.attname, 'type_oid', a.atttypid::int8,
          'type_schema', tn.nspname, 'type_name', ty.typname, 'typtype', ty.typtype::text,
          'elem_oid', ty.typelem::int8, 'typmod', a.atttypmod,
          'not_null', a.attnotnull, 'has_default', a.atthasdef or a.attidentity <> '',
          'generated', a.attgenerated <> '' or a.attidentity = 'a',
          'comment', col_description(c.oid, a.attnum),
          'can_select', has_column_privilege($2, c.oid, a.attnum, 'SELECT'),
          'can_insert', has_column_privilege($2, c.oid, a.attnum, 'INSERT'),
          'can_update', has_column_privilege($2, c.oid, a.attnum, 'UPDATE'))
          order by a.attnum)
        from pg_attribute a join pg_type ty on ty.oid = a.atttypid
          join pg_namespace tn on tn.oid = ty.typnamespace
        where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
      coalesce((select json_agg(a.attname order by k.ord)
        from pg_index i cross join lateral unnest(i.indkey) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = c.oid and a.attnum = k.num
        where i.indrelid = c.oid and i.indisprimary), '[]') as pkey,
      coalesce((select json_agg(u.cols) from (
          select (select json_agg(a.attname order by a.attname) from unnest(i.indkey) k(num)
                    join pg_attribute a on a.attrelid = c.oid and a.attnum = k.num) as cols
          from pg_index i where i.indrelid = c.oid and i.indisunique and i.indpred is null) u), '[]')
        as uniques
    from pg_class c join s on s.oid = c.relnamespace
    where c.relkind in ('r', 'v', 'm', 'f', 'p') and not c.relispartition) t),
  'fkeys', (select coalesce(json_agg(f), '[]') from (
    select co.conname as name, co.conrelid::int8 as local_oid, co.confrelid::int8 as foreign_oid,
      (select json_agg(a.attname order by k.ord) from unnest(co.conkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = co.conrelid and a.attnum = k.num) as local_columns,
      (select json_agg(a.attname order by k.ord) from unnest(co.confkey) with ordinality k(num, ord)
         join pg_attribute a on a.attrelid = co.confrelid and a.attnum = k.num) as foreign_columns,
      obj_description(co.oid, 'pg_constraint') as comment
    from pg_constraint co
    where co.contype = 'f'
      and co.connamespace in (select oid from s)
    order by co.conname) f),
  'enums', (select coalesce(json_agg(e order by e.name), '[]') from (
    select t.oid::int8 as oid, s.nspname as schema, t.typname as name,
      obj_description(t.oid, 'pg_type') as comment,
      (select json_agg(x.enumlabel order by x.enumsortorder) from pg_enum x where x.enumtypid = t.oid)
        as values
    from pg_type t join s on s.oid = t.typnamespace where t.typtype = 'e') e),
  'functions', (select coalesce(json_agg(f order by f.schema, f.name), '[]') from (
    select p.oid::int8 as oid, s.nspname as schema, p.proname as name,
      obj_description(p.oid, 'pg_proc') as comment,
      p.provolatile::text as volatility, p.proretset as returns_set,
      p.pronargs::int as nargs, p.pronargdefaults::int as nargdefaults,
      coalesce(to_json(p.proargnames), '[]') as arg_names,
      coalesce(to_json(p.proargmodes::text[]), 'null') as arg_modes,
      p.proretset and p.prorows = 1 as single_row,
      pg_get_expr(p.proargdefaults, 0) as arg_defaults,
      (select coalesce(json_agg(json_build_object('oid', ty.oid::int8, 'schema', tn.nspname,
          'name', ty.typname, 'typtype', ty.typtype::text, 'elem_oid', ty.typelem::int8,
          'relid', ty.typrelid::int8,
          'elem_typtype', (select e.typtype::text from pg_type e where e.oid = ty.typelem))
          order by k.ord), '[]')
        from unnest(p.proargtypes::oid[]) with ordinality k(oid, ord)
        join pg_type ty on ty.oid = k.oid join pg_namespace tn on tn.oid = ty.typnamespace)
        as arg_types,
      json_build_object('oid', rt.oid::int8, 'schema', rn.nspname, 'name', rt.typname,
        'typtype', rt.typtype::text, 'elem_oid', rt.typelem::int8, 'relid', rt.typrelid::int8,
        'elem_typtype', (select e.typtype::text from pg_type e where e.oid = rt.typelem))
        as ret
    from pg_proc p join s on s.oid = p.pronamespace
      join pg_type rt on rt.oid = p.prorettype join pg_namespace rn on rn.oid = rt.typnamespace
    where p.prokind = 'f' and has_function_privilege($2, p.oid, 'EXECUTE')
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')) f)
)::text
"#;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Catalog {
    pub schemas: Vec<SchemaInfo>,
    pub tables: Vec<Table>,
    pub fkeys: Vec<ForeignKey>,
    pub enums: Vec<EnumInfo>,
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchemaInfo {
    pub name: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub kind: String,
    pub comment: Option<String>,
    /// Row-level security is enabled.
    #[serde(default)]
    pub rls: bool,
    pub can_select: bool,
    pub can_insert: bool,
    pub can_update: bool,
    pub can_delete: bool,
    pub columns: Vec<Column>,
    pub pkey: Vec<String>,
    pub uniques: Vec<Option<Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    pub type_oid: i64,
    pub type_schema: String,
    pub type_name: String,
    pub typtype: String,
    pub elem_oid: i64,
    pub typmod: i32,
    pub not_null: bool,
    pub has_default: bool,
    pub generated: bool,
    pub comment: Option<String>,
    pub can_select: bool,
    pub can_insert: bool,
    pub can_update: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub local_oid: i64,
    pub foreign_oid: i64,
    pub local_columns: Vec<String>,
    pub foreign_columns: Vec<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnumInfo {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TypeRef {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub typtype: String,
    pub elem_oid: i64,
    #[serde(default)]
    pub relid: i64,
    /// The element's `typtype` of an array type.
    #[serde(default)]
    pub elem_typtype: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub volatility: String,
    pub returns_set: bool,
    /// `returns setof <table> rows 1`: a single row, not a connection.
    #[serde(default)]
    pub single_row: bool,
    /// The default expressions of the last `nargdefaults` arguments, comma-separated.
    #[serde(default)]
    pub arg_defaults: Option<String>,
    pub nargs: i32,
    pub nargdefaults: i32,
    pub arg_names: Vec<String>,
    pub arg_modes: Option<Vec<String>>,
    pub arg_types: Vec<TypeRef>,
    pub ret: TypeRef,
}

impl Catalog {
    /// Read the catalog of `schemas` as `role` sees it.
    pub async fn load(
        client: &tokio_postgres::Client,
        schemas: &[String],
        role: &str,
    ) -> Result<Catalog, String> {
        let row = client
            .query_one(CATALOG_SQL, &[&schemas, &role])
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })?;
        let text: String = row.get(0);
        serde_json::from_str(&text).map_err(|e| format!("catalog: {e}"))
    }
}
