//! The main statement's column contract. Every request's main statement answers one row with
//! the columns of [`Column`], in that order, over the rows it produces (aliased
//! `_postgrest_t`); [`MainSelect::render`] writes them and [`MainRow`] reads them back by the
//! same names. Pure: unit-tested without a database.

use basalt_pg::wire::Row;

/// The columns of a main statement, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The total count when one was asked for (`Prefer: count=exact`), else NULL.
    Total,
    /// Rows in this response (or affected by a write).
    Page,
    /// The body as text (JSON, CSV, GeoJSON).
    Body,
    /// `response.headers` as the statement left it.
    Headers,
    /// `response.status` as the statement left it.
    Status,
    /// The `Location` of an inserted row (`return=headers-only`).
    Location,
    /// Rows inserted by an upsert (to tell 201 from 200).
    Inserted,
    /// The body as bytes (raw media types, custom aggregates).
    Bytes,
}

impl Column {
    /// Every column, in the statement's order.
    pub const ALL: [Column; 8] = [
        Column::Total,
        Column::Page,
        Column::Body,
        Column::Headers,
        Column::Status,
        Column::Location,
        Column::Inserted,
        Column::Bytes,
    ];

    /// The column's position in the row.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The column's name in the statement.
    pub fn name(self) -> &'static str {
        match self {
            Column::Total => "total",
            Column::Page => "page_total",
            Column::Body => "body",
            Column::Headers => "pgrst_headers",
            Column::Status => "pgrst_status",
            Column::Location => "location",
            Column::Inserted => "inserted",
            Column::Bytes => "body_bytes",
        }
    }

    /// The SQL type the value is cast to (`None`: the body stays `json` or `text` as its
    /// expression gives it, both read back as their text, so an `EXPLAIN` shows the expression
    /// itself).
    fn cast(self) -> Option<&'static str> {
        match self {
            Column::Total | Column::Page | Column::Inserted => Some("int8"),
            Column::Bytes => Some("bytea"),
            Column::Body => None,
            _ => Some("text"),
        }
    }
}

/// The `WITH` list entry naming the rows when [`MainSelect::name_rows`] is set.
pub const ROWS_CTE: &str = "pgrst_rows";

/// The expressions of one main statement; `None` columns are NULL.
#[derive(Debug, Clone, Default)]
pub struct MainSelect<'a> {
    /// A `WITH` list (without the keyword) the statement starts with.
    pub with: Option<&'a str>,
    /// The statement producing the rows.
    pub from: &'a str,
    pub total: Option<&'a str>,
    pub body: Option<&'a str>,
    pub location: Option<&'a str>,
    pub inserted: Option<&'a str>,
    pub bytes: Option<&'a str>,
    /// Name the rows [`ROWS_CTE`] in the `WITH` list so an expression can read them again
    /// (the CSV header reads the first row's column names).
    pub name_rows: bool,
}

impl MainSelect<'_> {
    /// The statement's text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.from.len() + 400);
        let mut with: Vec<String> = self.with.map(str::to_string).into_iter().collect();
        if self.name_rows {
            with.push(format!("\"{ROWS_CTE}\" AS ({})", self.from));
        }
        if !with.is_empty() {
            out.push_str("WITH ");
            out.push_str(&with.join(", "));
            out.push(' ');
        }
        out.push_str("SELECT ");
        for (i, c) in Column::ALL.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let expr = match c {
                Column::Total => self.total,
                Column::Page => Some("pg_catalog.count(*)"),
                Column::Body => self.body,
                Column::Headers => Some("nullif(current_setting('response.headers', true), '')"),
                Column::Status => Some("nullif(current_setting('response.status', true), '')"),
                Column::Location => self.location,
                Column::Inserted => self.inserted,
                Column::Bytes => self.bytes,
            };
            out.push_str(expr.unwrap_or("NULL"));
            if let Some(cast) = c.cast() {
                out.push_str("::");
                out.push_str(cast);
            }
            out.push_str(" AS \"");
            out.push_str(c.name());
            out.push('"');
        }
        out.push_str(" FROM (");
        if self.name_rows {
            out.push_str(&format!("SELECT * FROM \"{ROWS_CTE}\""));
        } else {
            out.push_str(self.from);
        }
        out.push_str(") AS \"_postgrest_t\"");
        out
    }
}

/// The row a main statement answers, read by [`Column`].
#[derive(Debug, Clone, Default)]
pub struct MainRow {
    pub total: Option<i64>,
    pub page: i64,
    pub body: Option<String>,
    pub headers: Option<String>,
    pub status: Option<String>,
    pub location: Option<String>,
    pub inserted: Option<i64>,
    pub bytes: Option<Vec<u8>>,
}

impl MainRow {
    /// Read the row of a main statement.
    pub fn from_row(r: &Row) -> MainRow {
        let text = |c: Column| r.text(c.index()).map(str::to_string);
        MainRow {
            total: r.int(Column::Total.index()),
            page: r.int(Column::Page.index()).unwrap_or(0),
            body: text(Column::Body),
            headers: text(Column::Headers),
            status: text(Column::Status),
            location: text(Column::Location),
            inserted: r.int(Column::Inserted.index()),
            bytes: r.bytes(Column::Bytes.index()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_column_in_order() {
        let sql = MainSelect {
            from: "SELECT 1",
            body: Some("json_agg(\"_postgrest_t\")::text"),
            ..Default::default()
        }
        .render();
        let expected = [
            "NULL::int8 AS \"total\"",
            "pg_catalog.count(*)::int8 AS \"page_total\"",
            "json_agg(\"_postgrest_t\")::text AS \"body\"",
            "AS \"pgrst_headers\"",
            "AS \"pgrst_status\"",
            "NULL::text AS \"location\"",
            "NULL::int8 AS \"inserted\"",
            "NULL::bytea AS \"body_bytes\"",
        ];
        let mut at = 0;
        for part in expected {
            let found = sql[at..]
                .find(part)
                .unwrap_or_else(|| panic!("{part} in {sql}"));
            at += found + part.len();
        }
        assert!(sql.ends_with("FROM (SELECT 1) AS \"_postgrest_t\""));
        assert!(sql.starts_with("SELECT "));
    }

    #[test]
    fn a_with_list_comes_first() {
        let sql = MainSelect {
            with: Some("\"pgrst_source\" AS (DELETE FROM t RETURNING 1)"),
            from: "SELECT 1 FROM \"pgrst_source\"",
            ..Default::default()
        }
        .render();
        assert!(sql.starts_with("WITH \"pgrst_source\" AS (DELETE FROM t RETURNING 1) SELECT "));
    }

    #[test]
    fn named_rows_follow_the_with_list() {
        let sql = MainSelect {
            with: Some("\"pgrst_source\" AS (DELETE FROM t RETURNING t.*)"),
            from: "SELECT a FROM \"pgrst_source\"",
            name_rows: true,
            ..Default::default()
        }
        .render();
        assert!(sql.starts_with(
            "WITH \"pgrst_source\" AS (DELETE FROM t RETURNING t.*), \"pgrst_rows\" AS (SELECT a FROM \"pgrst_source\") SELECT "
        ));
        assert!(sql.ends_with("FROM (SELECT * FROM \"pgrst_rows\") AS \"_postgrest_t\""));
        let read = MainSelect {
            from: "SELECT 1",
            name_rows: true,
            ..Default::default()
        }
        .render();
        assert!(read.starts_with("WITH \"pgrst_rows\" AS (SELECT 1) SELECT "));
    }

    #[test]
    fn names_and_positions_agree() {
        for (i, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i, "{}", c.name());
        }
    }
}
