//! The tables `test rls` probes, read from the catalog: columns with what is needed to invent a
//! value for them, foreign keys, and single-column CHECK constraints (whose constants are the
//! values most likely to satisfy them).

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::db::internal_schemas;
use crate::error::Error;

/// One column of a probed table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type` of the column, usable in a CAST.
    pub sql_type: String,
    /// The base type's name (`uuid`, `text`, `_text`, …; a domain's base type).
    pub base: String,
    /// The base type's `typcategory`.
    pub category: String,
    pub not_null: bool,
    pub has_default: bool,
    /// `a` (always), `d` (by default) or empty.
    pub identity: String,
    /// `s` for a stored generated column, else empty.
    pub generated: String,
    pub default_expr: String,
    pub first_enum_label: Option<String>,
    /// String constants of the column's single-column CHECK constraints.
    pub check_constants: Vec<String>,
}

/// A foreign key of a probed table.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub target: u32,
    pub target_columns: Vec<String>,
}

/// A table in an exposed schema.
#[derive(Debug, Clone)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    /// `"schema"."name"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The foreign key a column belongs to.
    pub fn fk_of(&self, column: &str) -> Option<&ForeignKey> {
        self.foreign_keys
            .iter()
            .find(|fk| fk.columns.iter().any(|c| c == column))
    }
}

pub use basalt_pg::quote_ident;

/// The ordinary tables of the exposed schemas, with their columns and keys.
pub async fn tables(client: &Client, exposed: &[String]) -> Result<Vec<Table>, Error> {
    let internal = internal_schemas();
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND n.nspname = ANY($1) AND NOT n.nspname = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY n.nspname, c.relname",
            &[&exposed, &internal],
        )
        .await
        .map_err(|e| Error::query("read tables", &e))?;
    let mut tables: Vec<Table> = rows
        .iter()
        .map(|r| Table {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            columns: Vec::new(),
            foreign_keys: Vec::new(),
        })
        .collect();
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let mut checks: HashMap<(u32, String), Vec<String>> = HashMap::new();
    for r in client
        .query(
            "SELECT con.conrelid, a.attname::text, pg_get_constraintdef(con.oid)
             FROM pg_constraint con
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
             WHERE con.contype = 'c' AND cardinality(con.conkey) = 1 AND con.conrelid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(|e| Error::query("read check constraints", &e))?
    {
        let def: String = r.get(2);
        let expr = def.trim_start_matches("CHECK").trim();
        let constants = crate::policy_expr::parse_expr(expr)
            .map(|n| crate::ast::string_constants(&crate::ast::to_json(&n)))
            .unwrap_or_default();
        checks
            .entry((r.get(0), r.get(1)))
            .or_default()
            .extend(constants);
    }
    let cols = client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    coalesce(bt.typname, t.typname)::text, coalesce(bt.typcategory, t.typcategory)::text,
                    a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated::text,
                    coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                    (SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid)
                     ORDER BY e.enumsortorder LIMIT 1)
             FROM pg_attribute a
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(|e| Error::query("read columns", &e))?;
    let fks = client
        .query(
            "SELECT con.conrelid, con.confrelid,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
             FROM pg_constraint con
             WHERE con.contype = 'f' AND con.conrelid = ANY($1)
             ORDER BY con.conname",
            &[&oids],
        )
        .await
        .map_err(|e| Error::query("read foreign keys", &e))?;
    for t in &mut tables {
        for r in cols.iter().filter(|r| r.get::<_, u32>(0) == t.oid) {
            let name: String = r.get(1);
            t.columns.push(Column {
                check_constants: checks.remove(&(t.oid, name.clone())).unwrap_or_default(),
                name,
                sql_type: r.get(2),
                base: r.get(3),
                category: r.get(4),
                not_null: r.get(5),
                has_default: r.get(6),
                identity: r.get(7),
                generated: r.get(8),
                default_expr: r.get(9),
                first_enum_label: r.get(10),
            });
        }
        for r in fks.iter().filter(|r| r.get::<_, u32>(0) == t.oid) {
            t.foreign_keys.push(ForeignKey {
                target: r.get(1),
                columns: r.get(2),
                target_columns: r.get(3),
            });
        }
    }
    Ok(tables)
}
