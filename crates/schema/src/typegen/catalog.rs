//! Reading the [`Model`] from the catalog of a live database.

use tokio_postgres::Client;

use super::model::{Arg, Column, CompositeType, EnumType, Function, Model, Relation, Relationship};
use crate::error::Error;

fn q(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::query(context, &e)
}

/// Read the tables, views, enums, composite types and functions of `schemas`.
pub async fn load(client: &Client, schemas: &[String]) -> Result<Model, Error> {
    let mut schemas = schemas.to_vec();
    schemas.sort();
    schemas.dedup();
    let rels = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                    c.relkind = 'v' AND (pg_relation_is_updatable(c.oid, true) & 8) = 8,
                    c.relkind = 'v' AND (pg_relation_is_updatable(c.oid, true) & 4) = 4
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'f', 'v', 'm')",
            &[&schemas],
        )
        .await
        .map_err(q("read relations"))?;
    let oids: Vec<u32> = rels.iter().map(|r| r.get(0)).collect();
    let cols = client
        .query(
            "SELECT a.attrelid, a.attname::text, coalesce(bt.typname, t.typname)::text,
                    NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
                    a.atthasdef, a.attidentity IN ('a', 'd'), a.attidentity = 'a',
                    c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (
                      pg_column_is_updatable(c.oid, a.attnum, false)
                      OR EXISTS (SELECT 1 FROM pg_trigger tg
                                 WHERE tg.tgrelid = c.oid AND tg.tgtype & 64 <> 0
                                   AND tg.tgtype & 20 <> 0 AND NOT tg.tgisinternal)
                      OR EXISTS (SELECT 1 FROM pg_rewrite rw
                                 WHERE rw.ev_class = c.oid AND rw.is_instead
                                   AND rw.ev_type IN ('2', '3') AND rw.ev_qual::text = '<>'))),
                    a.attgenerated <> ''
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(q("read columns"))?;
    let fks = client
        .query(
            "SELECT con.conrelid, con.conname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
                    rc.relname::text,
                    rn.nspname = n.nspname,
                    EXISTS (
                      SELECT 1 FROM pg_constraint u
                      WHERE u.conrelid = con.conrelid AND u.contype IN ('p', 'u')
                        AND ARRAY(SELECT a.attname::text FROM unnest(u.conkey) k(n)
                                  JOIN pg_attribute a ON a.attrelid = u.conrelid AND a.attnum = k.n
                                  ORDER BY a.attnum)
                          = ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)),
                    con.confrelid, con.conkey, con.confkey
             FROM pg_constraint con
             JOIN pg_namespace n ON n.oid = con.connamespace
             JOIN pg_class rc ON rc.oid = con.confrelid
             JOIN pg_namespace rn ON rn.oid = rc.relnamespace
             WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid = ANY($1)
             ORDER BY con.conname",
            &[&oids],
        )
        .await
        .map_err(q("read foreign keys"))?;
    let mut model = Model {
        schemas: schemas.clone(),
        ..Model::default()
    };
    for r in &rels {
        let oid: u32 = r.get(0);
        let kind: String = r.get(3);
        let columns = cols
            .iter()
            .filter(|c| c.get::<_, u32>(0) == oid)
            .map(|c| Column {
                name: c.get(1),
                format: c.get(2),
                is_nullable: c.get(3),
                has_default: c.get(4),
                is_identity: c.get(5),
                identity_always: c.get(6),
                is_updatable: c.get(7),
                is_generated: c.get(8),
            })
            .collect();
        let relationships = fks
            .iter()
            .filter(|f| f.get::<_, u32>(0) == oid && f.get::<_, bool>(5))
            .map(|f| Relationship {
                foreign_key_name: f.get(1),
                columns: f.get(2),
                referenced_columns: f.get(3),
                referenced_relation: f.get(4),
                is_one_to_one: f.get(6),
            })
            .collect();
        let rel = Relation {
            oid,
            schema: r.get(1),
            name: r.get(2),
            columns,
            relationships,
            insert_enabled: r.get(4),
            update_enabled: r.get(5),
        };
        if kind == "v" || kind == "m" {
            model.views.push(rel);
        } else {
            model.tables.push(rel);
        }
    }
    derive_view_relationships(client, &mut model, &fks).await?;
    for r in client
        .query(
            "SELECT n.nspname::text, t.typname::text,
                    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .map_err(q("read enums"))?
    {
        model.enums.push(EnumType {
            schema: r.get(0),
            name: r.get(1),
            labels: r.get(2),
        });
    }
    for r in client
        .query(
            "SELECT n.nspname::text, t.typname::text,
                    ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                    ARRAY(SELECT at.typname::text FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                          WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
             FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace
             JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
             WHERE t.typtype = 'c' AND n.nspname = ANY($1)",
            &[&schemas],
        )
        .await
        .map_err(q("read composite types"))?
    {
        let names: Vec<String> = r.get(2);
        let types: Vec<String> = r.get(3);
        model.composites.push(CompositeType {
            schema: r.get(0),
            name: r.get(1),
            attributes: names.into_iter().zip(types).collect(),
        });
    }
    for r in client
        .query(
            "SELECT n.nspname::text, p.proname::text, rt.typname::text, p.proretset, p.prorows,
                    CASE WHEN rc.relkind IN ('r', 'p', 'v', 'm', 'f') THEN rc.oid END,
                    pg_get_function_identity_arguments(p.oid),
                    coalesce(p.proargnames, '{}')::text[],
                    coalesce(p.proargmodes::text[], ARRAY(SELECT 'i' FROM unnest(p.proargtypes))),
                    ARRAY(SELECT ty.typname::text FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY a(t, i)
                          JOIN pg_type ty ON ty.oid = a.t ORDER BY a.i),
                    p.pronargdefaults
             FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_type rt ON rt.oid = p.prorettype
             LEFT JOIN pg_class rc ON rc.oid = rt.typrelid
             WHERE n.nspname = ANY($1) AND p.prokind = 'f'
               AND rt.typname NOT IN ('trigger', 'event_trigger')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
            &[&schemas],
        )
        .await
        .map_err(q("read functions"))?
    {
        let names: Vec<String> = r.get(7);
        let modes: Vec<String> = r.get(8);
        let types: Vec<String> = r.get(9);
        let defaults: i16 = r.get(10);
        let mut args: Vec<Arg> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Arg {
                name: names.get(i).cloned().unwrap_or_default(),
                mode: match modes.get(i).map(String::as_str) {
                    Some("o") => "out",
                    Some("b") => "inout",
                    Some("v") => "variadic",
                    Some("t") => "table",
                    _ => "in",
                }
                .to_string(),
                type_name: t.clone(),
                has_default: false,
            })
            .collect();
        // The last `pronargdefaults` input arguments have defaults.
        let inputs: Vec<usize> = (0..args.len())
            .filter(|&i| matches!(args[i].mode.as_str(), "in" | "inout" | "variadic"))
            .collect();
        for &i in inputs.iter().rev().take(defaults.max(0) as usize) {
            args[i].has_default = true;
        }
        model.functions.push(Function {
            schema: r.get(0),
            name: r.get(1),
            return_type: r.get(2),
            returns_set: r.get(3),
            rows: r.get(4),
            return_relation: r.get(5),
            identity_args: r.get(6),
            args,
        });
    }
    Ok(model)
}

/// A view `(oid, schema, name)` and each choice of its columns exposing a key.
type ViewKeys<'a> = (&'a (u32, String, String), Vec<Vec<String>>);

/// Relationships through views, as PostgREST sees them: a view exposing all columns of a
/// foreign key gets the key's relationship, and a view exposing all referenced columns can be
/// referenced in its table's place.
async fn derive_view_relationships(
    client: &Client,
    model: &mut Model,
    fks: &[tokio_postgres::Row],
) -> Result<(), Error> {
    use super::view_keys::{column_origins, permutations, ForeignKey, Origins};
    let view_oids: Vec<u32> = model.views.iter().map(|v| v.oid).collect();
    let rules = client
        .query(
            "SELECT ev_class, ev_action::text FROM pg_rewrite WHERE ev_class = ANY($1) AND rulename = '_RETURN'",
            &[&view_oids],
        )
        .await
        .map_err(q("read view definitions"))?;
    let origins = Origins {
        views: rules
            .iter()
            .map(|r| (r.get::<_, u32>(0), column_origins(&r.get::<_, String>(1))))
            .collect(),
    };
    let rels: Vec<(u32, String, String)> = model
        .tables
        .iter()
        .chain(model.views.iter())
        .map(|r| (r.oid, r.schema.clone(), r.name.clone()))
        .collect();
    let find = |oid: u32| rels.iter().find(|(o, _, _)| *o == oid);
    let views: Vec<(u32, String, String)> = model
        .views
        .iter()
        .map(|v| (v.oid, v.schema.clone(), v.name.clone()))
        .collect();
    let mut derived: Vec<(u32, Relationship)> = Vec::new();
    for f in fks {
        let fk = ForeignKey {
            name: f.get(1),
            table: f.get(0),
            referenced: f.get(7),
            columns: f.get(8),
            referenced_columns: f.get(9),
        };
        let (Some((_, t_schema, _)), referenced) = (find(fk.table), find(fk.referenced)) else {
            continue;
        };
        let columns: Vec<String> = f.get(2);
        let referenced_columns: Vec<String> = f.get(3);
        let referenced_name: String = f.get(4);
        let referenced_schema = referenced.map(|r| r.1.clone());
        let one_to_one: bool = f.get(6);
        let exposing = |rel: u32, cols: &[i16]| -> Vec<ViewKeys> {
            views
                .iter()
                .filter_map(|v| {
                    origins
                        .key_dependency(v.0, rel, cols)
                        .map(|d| (v, permutations(&d)))
                })
                .collect()
        };
        let from_views = exposing(fk.table, &fk.columns);
        let to_views = exposing(fk.referenced, &fk.referenced_columns);
        let rel = |cols: Vec<String>, to: &str, to_cols: Vec<String>| Relationship {
            foreign_key_name: fk.name.clone(),
            columns: cols,
            is_one_to_one: one_to_one,
            referenced_relation: to.to_string(),
            referenced_columns: to_cols,
        };
        for (v, perms) in &from_views {
            if referenced_schema.as_deref() == Some(v.1.as_str()) {
                for p in perms {
                    derived.push((
                        v.0,
                        rel(p.clone(), &referenced_name, referenced_columns.clone()),
                    ));
                }
            }
        }
        for (w, perms) in &to_views {
            if *t_schema == w.1 {
                for p in perms {
                    derived.push((fk.table, rel(columns.clone(), &w.2, p.clone())));
                }
            }
        }
        for (v, perms) in &from_views {
            for p in perms {
                for (w, wperms) in &to_views {
                    if v.1 == w.1 {
                        for wp in wperms {
                            derived.push((v.0, rel(p.clone(), &w.2, wp.clone())));
                        }
                    }
                }
            }
        }
    }
    for (oid, r) in derived {
        if let Some(target) = model
            .tables
            .iter_mut()
            .chain(model.views.iter_mut())
            .find(|x| x.oid == oid)
        {
            target.relationships.push(r);
        }
    }
    Ok(())
}
