//! Advisors answered by one catalog query each. Every query returns
//! `(schema, object, cache-key tail, detail)`; `$1`/`$2` are bound as the query's [`Bind`] says.

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::{Advisory, Category, Lint};
use crate::db::internal_schemas;
use crate::error::Error;
use crate::finding::Level;

/// What a query's parameters are.
#[derive(Debug, Clone, Copy)]
enum Bind {
    /// No parameters.
    None,
    /// `$1` = internal schemas.
    Internal,
    /// `$1` = exposed schemas, `$2` = internal schemas.
    ExposedInternal,
}

struct CatalogLint {
    lint: Lint,
    kind: &'static str,
    bind: Bind,
    sql: &'static str,
}

/// `c` (a `pg_class` row) is selectable by an API role.
macro_rules! api_select {
    () => {
        "(has_table_privilege('anon', c.oid, 'SELECT') OR has_table_privilege('authenticated', c.oid, 'SELECT'))"
    };
}

/// `c` is not part of an extension.
macro_rules! not_extension_rel {
    () => {
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
    };
}

macro_rules! lint {
    ($name:literal, $title:literal, $level:ident, $cat:ident, $desc:literal, $fix:literal) => {
        Lint {
            name: $name,
            title: $title,
            level: Level::$level,
            category: Category::$cat,
            description: $desc,
            remediation: $fix,
        }
    };
}

const CATALOG: &[CatalogLint] = &[
    CatalogLint {
        lint: lint!("unindexed_foreign_keys", "Unindexed foreign keys", Info, Performance,
            "Foreign key constraints without an index covering their columns make joins and deletes on the referenced table slow.",
            "Create an index whose leading columns are the foreign key's columns."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname || '_' || con.conname,
                     format('Table %I.%I has foreign key %I without a covering index', n.nspname, c.relname, con.conname)
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE con.contype = 'f' AND NOT n.nspname = ANY($1)
                AND NOT EXISTS (
                  SELECT 1 FROM pg_index i
                  WHERE i.indrelid = con.conrelid AND i.indisvalid
                    AND i.indnkeyatts >= cardinality(con.conkey)
                    AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
                    AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey)",
    },
    CatalogLint {
        lint: lint!("auth_users_exposed", "Exposed auth users", Error, Security,
            "A view or materialized view in an API schema reads auth.users and may leak user data to anon or authenticated callers.",
            "Move the view out of the exposed schemas, make it security_invoker, or revoke SELECT from anon and authenticated."),
        kind: "view",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('View %I.%I reads auth.users and is selectable by anon or authenticated', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), "
                AND (c.relkind = 'm' OR NOT coalesce(c.reloptions, '{}') && ARRAY['security_invoker=1', 'security_invoker=true', 'security_invoker=yes', 'security_invoker=on'])
                AND c.oid IN (
                  SELECT r.ev_class FROM pg_rewrite r
                  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  WHERE d.refobjid = to_regclass('auth.users'))"),
    },
    CatalogLint {
        lint: lint!("no_primary_key", "No primary key", Info, Performance,
            "A table without a primary key cannot be updated row by row reliably and is slow to replicate.",
            "Add a primary key."),
        kind: "table",
        bind: Bind::Internal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('Table %I.%I has no primary key', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT n.nspname = ANY($1)
                AND ", not_extension_rel!(), "
                AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"),
    },
    CatalogLint {
        lint: lint!("unused_index", "Unused index", Info, Performance,
            "An index that has never been scanned costs writes and space for nothing.",
            "Drop the index if the workload that would use it has run."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT s.schemaname, s.relname, s.relname || '_' || s.indexrelname,
                     format('Index %I on table %I.%I has not been used', s.indexrelname, s.schemaname, s.relname)
              FROM pg_stat_user_indexes s
              JOIN pg_index i ON i.indexrelid = s.indexrelid
              WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
                AND NOT s.schemaname = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)",
    },
    CatalogLint {
        lint: lint!("policy_exists_rls_disabled", "Policy exists, RLS disabled", Error, Security,
            "A table has row level security policies but row level security is off, so the policies do nothing.",
            "ALTER TABLE … ENABLE ROW LEVEL SECURITY, or drop the policies."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname,
                     format('Table %I.%I has policies %s but row level security is disabled', n.nspname, c.relname,
                            string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname))
              FROM pg_policy p
              JOIN pg_class c ON c.oid = p.polrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND NOT n.nspname = ANY($1)
              GROUP BY n.nspname, c.relname",
    },
    CatalogLint {
        lint: lint!("rls_enabled_no_policy", "RLS enabled, no policy", Info, Security,
            "Row level security is on but the table has no policy, so the API roles see and change nothing.",
            "Create policies for the access the API should have."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname,
                     format('Table %I.%I has row level security enabled but no policies', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT n.nspname = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)",
    },
    CatalogLint {
        lint: lint!("duplicate_index", "Duplicate index", Warning, Performance,
            "Two or more indexes are identical; all but one cost writes and space for nothing.",
            "Drop all but one of the identical indexes."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname || '_' || string_agg(ic.relname, '_' ORDER BY ic.relname),
                     format('Table %I.%I has identical indexes %s', n.nspname, c.relname,
                            string_agg(quote_ident(ic.relname), ', ' ORDER BY ic.relname))
              FROM pg_index i
              JOIN pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_class c ON c.oid = i.indrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT n.nspname = ANY($1)
              GROUP BY n.nspname, c.relname, ic.relam, i.indkey::text, i.indclass::text, i.indcollation::text,
                       i.indoption::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                       coalesce(pg_get_expr(i.indpred, i.indrelid), ''), i.indisunique
              HAVING count(*) > 1",
    },
    CatalogLint {
        lint: lint!("security_definer_view", "Security definer view", Error, Security,
            "A view without security_invoker runs with its owner's rights, bypassing the caller's row level security.",
            "ALTER VIEW … SET (security_invoker = on), or revoke SELECT from anon and authenticated."),
        kind: "view",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('View %I.%I is defined with the SECURITY DEFINER property', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'v' AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), " AND ", not_extension_rel!(), "
                AND NOT coalesce(c.reloptions, '{}') && ARRAY['security_invoker=1', 'security_invoker=true', 'security_invoker=yes', 'security_invoker=on']"),
    },
    CatalogLint {
        lint: lint!("function_search_path_mutable", "Function search path mutable", Warning, Security,
            "A function without a fixed search_path resolves names through the caller's search_path.",
            "ALTER FUNCTION … SET search_path = ''."),
        kind: "function",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, p.proname, p.proname || '_' || md5(pg_get_function_identity_arguments(p.oid)),
                     format('Function %I.%I(%s) has a role mutable search_path', n.nspname, p.proname,
                            pg_get_function_identity_arguments(p.oid))
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE p.prokind IN ('f', 'p') AND NOT n.nspname = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
                AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) cfg WHERE cfg LIKE 'search_path=%')",
    },
    CatalogLint {
        lint: lint!("rls_disabled_in_public", "RLS disabled in public", Error, Security,
            "A table in a schema the API serves has row level security off, so anon and authenticated callers reach every row.",
            "ALTER TABLE … ENABLE ROW LEVEL SECURITY and add policies."),
        kind: "table",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('Table %I.%I is public, but RLS has not been enabled', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
                AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), " AND ", not_extension_rel!()),
    },
    CatalogLint {
        lint: lint!("extension_in_public", "Extension in public", Warning, Security,
            "An extension installed in public puts its functions and types into the schema the API serves.",
            "Install it in another schema, e.g. extensions."),
        kind: "extension",
        bind: Bind::None,
        sql: "SELECT n.nspname, e.extname, e.extname,
                     format('Extension %I is installed in the public schema', e.extname)
              FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE n.nspname = 'public'",
    },
    CatalogLint {
        lint: lint!("materialized_view_in_api", "Materialized view in API", Warning, Security,
            "A materialized view has no row level security, and this one is selectable over the API.",
            "Revoke SELECT from anon and authenticated, or move it out of the exposed schemas."),
        kind: "materialized view",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('Materialized view %I.%I is selectable by anon or authenticated', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'm' AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), " AND ", not_extension_rel!()),
    },
    CatalogLint {
        lint: lint!("foreign_table_in_api", "Foreign table in API", Warning, Security,
            "A foreign table has no row level security, and this one is selectable over the API.",
            "Revoke SELECT from anon and authenticated, or move it out of the exposed schemas."),
        kind: "foreign table",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('Foreign table %I.%I is selectable by anon or authenticated', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'f' AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), " AND ", not_extension_rel!()),
    },
    CatalogLint {
        lint: lint!("unsupported_reg_types", "Unsupported reg types", Warning, Security,
            "A column of a reg* type that stores OIDs blocks upgrading the database with pg_upgrade.",
            "Store the object's name as text instead."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname || '_' || a.attname,
                     format('Column %I of table %I.%I has type %s, which pg_upgrade does not support', a.attname, n.nspname, c.relname, format_type(a.atttypid, a.atttypmod))
              FROM pg_attribute a
              JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm')
                AND NOT n.nspname = ANY($1)
                AND a.atttypid IN ('regcollation'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                                   'regnamespace'::regtype, 'regoper'::regtype, 'regoperator'::regtype,
                                   'regproc'::regtype, 'regprocedure'::regtype)",
    },
    CatalogLint {
        lint: lint!("fkey_to_auth_unique", "Foreign key to auth unique constraint", Error, Security,
            "A foreign key references a unique constraint in the auth schema other than the primary key; the platform may change or drop it.",
            "Reference auth.users(id) instead."),
        kind: "table",
        bind: Bind::Internal,
        sql: "SELECT n.nspname, c.relname, c.relname || '_' || con.conname,
                     format('Foreign key %I of table %I.%I references a non-primary unique key of %s', con.conname, n.nspname, c.relname, con.confrelid::regclass)
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_class rc ON rc.oid = con.confrelid
              JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE con.contype = 'f' AND rn.nspname = 'auth' AND NOT n.nspname = ANY($1)
                AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = con.conindid AND NOT i.indisprimary)",
    },
    CatalogLint {
        lint: lint!("extension_versions_outdated", "Extension versions outdated", Warning, Security,
            "An installed extension is older than the version the server ships, and may miss fixes.",
            "ALTER EXTENSION … UPDATE."),
        kind: "extension",
        bind: Bind::None,
        sql: "SELECT n.nspname, e.extname, e.extname,
                     format('Extension %I is at version %s; version %s is available', e.extname, e.extversion, a.default_version)
              FROM pg_extension e
              JOIN pg_namespace n ON n.oid = e.extnamespace
              JOIN pg_available_extensions a ON a.name = e.extname
              WHERE a.default_version IS NOT NULL AND e.extversion <> a.default_version",
    },
    CatalogLint {
        lint: lint!("sensitive_columns_exposed", "Sensitive columns exposed", Error, Security,
            "A table the API serves without row level security has columns that look like secrets or personal data.",
            "Enable row level security on the table, or move the columns out of the exposed schemas."),
        kind: "table",
        bind: Bind::ExposedInternal,
        sql: concat!("SELECT n.nspname, c.relname, c.relname,
                     format('Table %I.%I is served without RLS and has sensitive columns %s', n.nspname, c.relname,
                            string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum))
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
                AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND ", api_select!(), " AND ", not_extension_rel!(), "
                AND a.attname ~* '(^|_)(password|passwd|secret|token|api_?key|ssn|social_security|credit_card|card_number|cvv|iban|tax_id|passport)($|_)'
              GROUP BY n.nspname, c.relname"),
    },
    CatalogLint {
        lint: lint!("anon_security_definer_function_executable", "Anon can execute a security definer function", Warning, Security,
            "A SECURITY DEFINER function in an API schema can be called by anon through /rest/v1/rpc and runs with its owner's rights.",
            "REVOKE EXECUTE … FROM anon, PUBLIC, or make the function SECURITY INVOKER."),
        kind: "function",
        bind: Bind::ExposedInternal,
        sql: "SELECT n.nspname, p.proname, p.proname || '_' || md5(pg_get_function_identity_arguments(p.oid)),
                     format('Function %I.%I(%s) is SECURITY DEFINER and executable by anon', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE p.prosecdef AND p.prokind = 'f' AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND has_function_privilege('anon', p.oid, 'EXECUTE')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
    },
    CatalogLint {
        lint: lint!("authenticated_security_definer_function_executable", "Signed-in users can execute a security definer function", Warning, Security,
            "A SECURITY DEFINER function in an API schema can be called by every signed-in user through /rest/v1/rpc and runs with its owner's rights.",
            "REVOKE EXECUTE … FROM authenticated, PUBLIC, or make the function SECURITY INVOKER."),
        kind: "function",
        bind: Bind::ExposedInternal,
        sql: "SELECT n.nspname, p.proname, p.proname || '_' || md5(pg_get_function_identity_arguments(p.oid)),
                     format('Function %I.%I(%s) is SECURITY DEFINER and executable by authenticated', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE p.prosecdef AND p.prokind = 'f' AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
                AND has_function_privilege('authenticated', p.oid, 'EXECUTE')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
    },
];

/// The lints of this module.
pub static LINTS: std::sync::LazyLock<Vec<&'static Lint>> =
    std::sync::LazyLock::new(|| CATALOG.iter().map(|c| &c.lint).collect());

/// Run every catalog lint.
pub async fn run(client: &Client, exposed: &[String]) -> Result<Vec<Advisory>, Error> {
    let internal = internal_schemas();
    let mut out = Vec::new();
    for c in CATALOG {
        let params: Vec<&(dyn ToSql + Sync)> = match c.bind {
            Bind::None => vec![],
            Bind::Internal => vec![&internal],
            Bind::ExposedInternal => vec![&exposed, &internal],
        };
        let rows = client
            .query(c.sql, &params)
            .await
            .map_err(|e| Error::query(&format!("advisor {}", c.lint.name), &e))?;
        for row in rows {
            let schema: String = row.get(0);
            let name: String = row.get(1);
            let key: String = row.get(2);
            let detail: String = row.get(3);
            let mut a = Advisory::new(&c.lint, &schema, &name, c.kind, detail);
            a.cache_key = format!("{}_{}_{}", c.lint.name, schema, key);
            out.push(a);
        }
    }
    Ok(out)
}
