//! What type generation knows about a database: relations with their columns and foreign keys,
//! enums, composite types and functions. Filled from the catalog (`catalog`), rendered by
//! `typescript` and `rust`.

/// A column of a table or view.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The type's name (a domain's base type), e.g. `int8`, `_text`, `note_status`.
    pub format: String,
    pub is_nullable: bool,
    pub has_default: bool,
    pub is_identity: bool,
    /// The identity is `GENERATED ALWAYS`.
    pub identity_always: bool,
    /// Inserts and updates may name the column (tables; views: auto-updatable, or made
    /// writable by an INSTEAD OF trigger or an unconditional INSTEAD rule).
    pub is_updatable: bool,
    /// A generated column (`GENERATED ALWAYS AS (...)`): never written.
    pub is_generated: bool,
}

/// A foreign key seen from the referencing relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub foreign_key_name: String,
    pub columns: Vec<String>,
    pub is_one_to_one: bool,
    pub referenced_relation: String,
    pub referenced_columns: Vec<String>,
}

/// A table (ordinary, partitioned or foreign) or a view.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub relationships: Vec<Relationship>,
    /// For views: whether inserts go through (auto-updatable or by trigger/rule).
    pub insert_enabled: bool,
    /// For views: whether updates go through.
    pub update_enabled: bool,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumType {
    pub schema: String,
    pub name: String,
    pub labels: Vec<String>,
}

/// A composite type and its attributes `(name, type name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeType {
    pub schema: String,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

/// An argument of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: String,
    /// `in`, `out`, `inout`, `variadic` or `table`.
    pub mode: String,
    pub type_name: String,
    pub has_default: bool,
}

/// A function callable over the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub args: Vec<Arg>,
    pub return_type: String,
    pub returns_set: bool,
    /// The relation whose row type the function returns.
    pub return_relation: Option<u32>,
    pub rows: f32,
    /// `pg_get_function_identity_arguments`, to order overloads.
    pub identity_args: String,
}

/// Everything rendered for a set of schemas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// The schemas to render, sorted.
    pub schemas: Vec<String>,
    pub tables: Vec<Relation>,
    pub views: Vec<Relation>,
    /// Enums of every schema (those outside `schemas` render as literal unions).
    pub enums: Vec<EnumType>,
    pub composites: Vec<CompositeType>,
    pub functions: Vec<Function>,
}
