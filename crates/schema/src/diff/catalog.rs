//! A database's schema as a set of named objects, each with the text that identifies its
//! definition and the statements that create and drop it. The statements are composed by the
//! server itself (`format` with `%I`/`%L`, `pg_get_*def`) with `search_path` emptied, so every
//! name in them is schema-qualified exactly as Postgres would print it.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;

use crate::error::Error;

/// Kinds of objects, in the order they are created (drops run in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Schema,
    Extension,
    Enum,
    Domain,
    Composite,
    Sequence,
    Table,
    Column,
    Function,
    Constraint,
    ForeignKey,
    Index,
    View,
    Trigger,
    Rls,
    Policy,
    Grant,
    Comment,
    Publication,
}

/// One object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: Kind,
    /// What identifies it, e.g. `public.notes` or `public.notes.body`.
    pub key: String,
    /// The table it belongs to, when it belongs to one.
    pub table: Option<String>,
    /// Compared between the two databases.
    pub def: String,
    pub create: String,
    pub drop: String,
    /// Kind-specific detail (column parts, enum labels, view oid order, …).
    pub extra: Vec<String>,
}

/// Every object of a database, by kind and key.
pub type Catalog = BTreeMap<(Kind, String), Object>;

/// Queries returning `key, table, def, create, drop, extra text[]`; `$1` = the schemas to read.
const QUERIES: &[(Kind, &str)] = &[
    (Kind::Schema, "SELECT n.nspname, NULL, '', format('CREATE SCHEMA %I;', n.nspname), format('DROP SCHEMA %I;', n.nspname), '{}'::text[]
        FROM pg_namespace n WHERE n.nspname = ANY($1) AND n.nspname <> 'public'"),
    (Kind::Extension, "SELECT e.extname, NULL, n.nspname, format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I;', e.extname, n.nspname),
            format('DROP EXTENSION %I;', e.extname), '{}'::text[]
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = ANY($1)"),
    (Kind::Enum, "SELECT n.nspname || '.' || t.typname, NULL, array_to_string(l.labels, ','),
            format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname, (SELECT string_agg(quote_literal(x), ', ') FROM unnest(l.labels) x)),
            format('DROP TYPE %I.%I;', n.nspname, t.typname), l.labels
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        CROSS JOIN LATERAL (SELECT ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels) l
        WHERE t.typtype = 'e' AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')"),
    (Kind::Domain, "SELECT n.nspname || '.' || t.typname, NULL, d.def, format('CREATE DOMAIN %I.%I AS %s;', n.nspname, t.typname, d.def),
            format('DROP DOMAIN %I.%I;', n.nspname, t.typname), '{}'::text[]
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        CROSS JOIN LATERAL (SELECT format_type(t.typbasetype, t.typtypmod)
                || coalesce(' DEFAULT ' || t.typdefault, '')
                || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                || coalesce((SELECT string_agg(format(' CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid)), '' ORDER BY c.conname)
                             FROM pg_constraint c WHERE c.contypid = t.oid), '') AS def) d
        WHERE t.typtype = 'd' AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend dp WHERE dp.classid = 'pg_type'::regclass AND dp.objid = t.oid AND dp.deptype = 'e')"),
    (Kind::Composite, "SELECT n.nspname || '.' || t.typname, NULL, a.def, format('CREATE TYPE %I.%I AS (%s);', n.nspname, t.typname, a.def),
            format('DROP TYPE %I.%I;', n.nspname, t.typname), '{}'::text[]
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
        CROSS JOIN LATERAL (SELECT string_agg(format('%I %s', at.attname, format_type(at.atttypid, at.atttypmod)), ', ' ORDER BY at.attnum) AS def
                            FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped) a
        WHERE t.typtype = 'c' AND n.nspname = ANY($1)"),
    (Kind::Sequence, "SELECT n.nspname || '.' || c.relname, NULL, '', format('CREATE SEQUENCE %I.%I;', n.nspname, c.relname),
            format('DROP SEQUENCE %I.%I;', n.nspname, c.relname), '{}'::text[]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('i', 'e'))"),
    (Kind::Table, "SELECT n.nspname || '.' || c.relname, NULL, '',
            format('CREATE TABLE %I.%I (%s);', n.nspname, c.relname, coalesce(cols.defs, '')),
            format('DROP TABLE %I.%I;', n.nspname, c.relname), '{}'::text[]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL (SELECT string_agg(basalt_col.def, ', ' ORDER BY basalt_col.attnum) AS defs FROM (
            SELECT a.attnum, format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
              || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
              || CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
                      WHEN a.atthasdef THEN ' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END
              || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END AS def
            FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) basalt_col) cols
        WHERE c.relkind = 'r' AND NOT c.relispartition AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"),
    (Kind::Column, "SELECT n.nspname || '.' || c.relname || '.' || a.attname, n.nspname || '.' || c.relname,
            format_type(a.atttypid, a.atttypmod) || '|' || a.attidentity::text || '|' || a.attgenerated::text || '|' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || '|' || a.attnotnull::text,
            format('ALTER TABLE %I.%I ADD COLUMN %I %s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod))
              || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
              || CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
                      WHEN a.atthasdef THEN ' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END
              || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END || ';',
            format('ALTER TABLE %I.%I DROP COLUMN %I;', n.nspname, c.relname, a.attname),
            ARRAY[format('%I.%I', n.nspname, c.relname), quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                  a.attidentity::text || a.attgenerated::text, CASE WHEN a.attgenerated = '' THEN coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') ELSE '' END,
                  a.attnotnull::text]
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE c.relkind = 'r' AND NOT c.relispartition AND n.nspname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped"),
    (Kind::Function, "SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL,
            pg_get_functiondef(p.oid), pg_get_functiondef(p.oid) || ';',
            format('DROP FUNCTION %I.%I(%s);', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
            ARRAY[pg_get_function_result(p.oid)]
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prokind IN ('f', 'p') AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"),
    (Kind::Constraint, "SELECT n.nspname || '.' || c.relname || '.' || con.conname, n.nspname || '.' || c.relname,
            pg_get_constraintdef(con.oid),
            format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s;', n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid)),
            format('ALTER TABLE %I.%I DROP CONSTRAINT %I;', n.nspname, c.relname, con.conname), ARRAY[con.contype::text]
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE con.contype IN ('p', 'u', 'c', 'x', 'f') AND c.relkind = 'r' AND n.nspname = ANY($1) AND con.conparentid = 0"),
    (Kind::Index, "SELECT ns.nspname || '.' || ic.relname, ns.nspname || '.' || c.relname, pg_get_indexdef(i.indexrelid),
            pg_get_indexdef(i.indexrelid) || ';', format('DROP INDEX %I.%I;', ns.nspname, ic.relname), '{}'::text[]
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace ns ON ns.oid = ic.relnamespace
        WHERE ns.nspname = ANY($1) AND c.relkind IN ('r', 'm')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))"),
    (Kind::View, "SELECT n.nspname || '.' || c.relname, NULL,
            c.relkind::text || coalesce(array_to_string(c.reloptions, ','), '') || pg_get_viewdef(c.oid),
            format('CREATE %sVIEW %I.%I%s AS %s', CASE WHEN c.relkind = 'm' THEN 'MATERIALIZED ' ELSE '' END, n.nspname, c.relname,
                   CASE WHEN c.reloptions IS NOT NULL THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END,
                   pg_get_viewdef(c.oid)),
            format('DROP %sVIEW %I.%I;', CASE WHEN c.relkind = 'm' THEN 'MATERIALIZED ' ELSE '' END, n.nspname, c.relname),
            ARRAY[lpad(c.oid::text, 12, '0')]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"),
    (Kind::Trigger, "SELECT n.nspname || '.' || c.relname || '.' || t.tgname, n.nspname || '.' || c.relname, pg_get_triggerdef(t.oid),
            pg_get_triggerdef(t.oid) || ';', format('DROP TRIGGER %I ON %I.%I;', t.tgname, n.nspname, c.relname), '{}'::text[]
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND (n.nspname = ANY($1) OR n.nspname IN ('auth', 'storage'))"),
    (Kind::Rls, "SELECT n.nspname || '.' || c.relname || CASE WHEN f.forced THEN '.force' ELSE '' END, n.nspname || '.' || c.relname, '',
            format('ALTER TABLE %I.%I %s ROW LEVEL SECURITY;', n.nspname, c.relname, CASE WHEN f.forced THEN 'FORCE' ELSE 'ENABLE' END),
            format('ALTER TABLE %I.%I %s ROW LEVEL SECURITY;', n.nspname, c.relname, CASE WHEN f.forced THEN 'NO FORCE' ELSE 'DISABLE' END),
            '{}'::text[]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL (VALUES (false), (true)) f(forced)
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1)
          AND CASE WHEN f.forced THEN c.relforcerowsecurity ELSE c.relrowsecurity END"),
    (Kind::Policy, "SELECT n.nspname || '.' || c.relname || '.' || p.polname, n.nspname || '.' || c.relname, d.stmt, d.stmt,
            format('DROP POLICY %I ON %I.%I;', p.polname, n.nspname, c.relname), '{}'::text[]
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL (SELECT format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s;', p.polname, n.nspname, c.relname,
                CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                (SELECT string_agg(rn, ', ' ORDER BY rn) FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END AS rn FROM unnest(p.polroles) r) s),
                CASE WHEN p.polqual IS NOT NULL THEN ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')' ELSE '' END,
                CASE WHEN p.polwithcheck IS NOT NULL THEN ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')' ELSE '' END) AS stmt) d
        WHERE n.nspname = ANY($1) OR n.nspname IN ('auth', 'storage')"),
    (Kind::Grant, "SELECT n.nspname || '.' || c.relname || '.' || g.grantee_name || '.' || g.privilege_type, n.nspname || '.' || c.relname, '',
            format('GRANT %s ON TABLE %I.%I TO %s;', g.privilege_type, n.nspname, c.relname, g.grantee_name),
            format('REVOKE %s ON TABLE %I.%I FROM %s;', g.privilege_type, n.nspname, c.relname, g.grantee_name), '{}'::text[]
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee_name,
                                   a.privilege_type
                            FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) g
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1)
        UNION ALL
        SELECT 'function ' || f.key || '.' || g.grantee_name || '.' || g.privilege_type, f.key, '',
            format('GRANT %s ON FUNCTION %s TO %s;', g.privilege_type, f.signature, g.grantee_name),
            format('REVOKE %s ON FUNCTION %s FROM %s;', g.privilege_type, f.signature, g.grantee_name), '{}'::text[]
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        CROSS JOIN LATERAL (SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS key,
                                   format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature) f
        CROSS JOIN LATERAL (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee_name,
                                   a.privilege_type
                            FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee <> p.proowner) g
        WHERE p.prokind IN ('f', 'p') AND n.nspname = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT 'schema ' || n.nspname || '.' || g.grantee_name || '.' || g.privilege_type, n.nspname, '',
            format('GRANT %s ON SCHEMA %I TO %s;', g.privilege_type, n.nspname, g.grantee_name),
            format('REVOKE %s ON SCHEMA %I FROM %s;', g.privilege_type, n.nspname, g.grantee_name), '{}'::text[]
        FROM pg_namespace n
        CROSS JOIN LATERAL (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee_name,
                                   a.privilege_type
                            FROM aclexplode(n.nspacl) a WHERE a.grantee <> n.nspowner) g
        WHERE n.nspname = ANY($1)"),
    (Kind::Comment, "SELECT 'table ' || n.nspname || '.' || c.relname || coalesce('.' || a.attname, ''), n.nspname || '.' || c.relname, d.description,
            CASE WHEN a.attname IS NULL THEN format('COMMENT ON %s %I.%I IS %L;', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, n.nspname, c.relname, d.description)
                 ELSE format('COMMENT ON COLUMN %I.%I.%I IS %L;', n.nspname, c.relname, a.attname, d.description) END,
            CASE WHEN a.attname IS NULL THEN format('COMMENT ON %s %I.%I IS NULL;', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, n.nspname, c.relname)
                 ELSE format('COMMENT ON COLUMN %I.%I.%I IS NULL;', n.nspname, c.relname, a.attname) END, '{}'::text[]
        FROM pg_description d JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
        WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm')
        UNION ALL
        SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL, d.description,
            format('COMMENT ON FUNCTION %I.%I(%s) IS %L;', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), d.description),
            format('COMMENT ON FUNCTION %I.%I(%s) IS NULL;', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), '{}'::text[]
        FROM pg_description d JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1)
        UNION ALL
        SELECT 'schema ' || n.nspname, NULL, d.description, format('COMMENT ON SCHEMA %I IS %L;', n.nspname, d.description),
            format('COMMENT ON SCHEMA %I IS NULL;', n.nspname), '{}'::text[]
        FROM pg_description d JOIN pg_namespace n ON d.classoid = 'pg_namespace'::regclass AND d.objoid = n.oid
        WHERE n.nspname = ANY($1) AND n.nspname <> 'public'"),
    (Kind::Publication, "SELECT p.pubname, NULL, p.puballtables || ':' || coalesce(t.tables, ''),
            format('CREATE PUBLICATION %I%s;', p.pubname, CASE WHEN p.puballtables THEN ' FOR ALL TABLES' WHEN t.tables IS NOT NULL THEN ' FOR TABLE ' || t.tables ELSE '' END),
            format('DROP PUBLICATION %I;', p.pubname), ARRAY[coalesce(t.tables, '')]
        FROM pg_publication p
        LEFT JOIN LATERAL (SELECT string_agg(format('%I.%I', pt.schemaname, pt.tablename), ', ' ORDER BY pt.schemaname, pt.tablename) AS tables
                           FROM pg_publication_tables pt WHERE pt.pubname = p.pubname) t ON true
        WHERE t.tables IS NULL
           OR EXISTS (SELECT 1 FROM pg_publication_tables pt WHERE pt.pubname = p.pubname AND pt.schemaname = ANY($1))"),
];

/// Read the catalog of `schemas` (with `search_path` emptied on this connection).
pub async fn load(client: &impl GenericClient, schemas: &[String]) -> Result<Catalog, Error> {
    client
        .batch_execute("SET search_path TO ''")
        .await
        .map_err(|e| Error::query("empty search_path", &e))?;
    let mut out = Catalog::new();
    for (kind, sql) in QUERIES {
        let rows = client
            .query(*sql, &[&schemas])
            .await
            .map_err(|e| Error::query(&format!("read {kind:?} catalog"), &e))?;
        for r in rows {
            let key: String = r.get(0);
            out.insert(
                (*kind, key.clone()),
                Object {
                    kind: *kind,
                    key,
                    table: r.get(1),
                    def: r.get(2),
                    create: r.get(3),
                    drop: r.get(4),
                    extra: r.get(5),
                },
            );
        }
    }
    Ok(out)
}
