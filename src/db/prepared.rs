//! Raw SQL whose text is fixed, so diesel caches its prepared statement.
//!
//! `diesel::sql_query` is never cached (its text could be anything), so a
//! hot statement written with it is parsed again on every execution. A
//! [`Prepared`] query is: diesel keys its statement cache by the SQL text and
//! bind types. Placeholders are written `?` (one per bind, in order; diesel
//! renders `$n` for PostgreSQL), so a value used twice is bound twice.

use diesel::backend::Backend;
use diesel::expression::{AsExpression, TypedExpressionType};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{SqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};
use std::borrow::Cow;

/// Rows per multi-row statement, or ids per `IN` list: keeps the binds far
/// below SQLite's 32,766 and bounds the distinct texts (one prepared
/// statement each) a statement chunked by it can have.
pub const ROWS_PER_STATEMENT: usize = 64;

/// `(?, ?, ?)`: a row of `n` placeholders, or the list of an `IN`.
pub fn row(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

/// `(?, ?), (?, ?)`: `rows` rows of `per_row` placeholders, for a multi-row
/// `VALUES`.
pub fn rows(rows: usize, per_row: usize) -> String {
    vec![row(per_row); rows].join(", ")
}

pub struct Prepared<DB: Backend> {
    /// Owned text is fine too (e.g. one row of placeholders per leg): the
    /// cache holds one statement per distinct text.
    sql: Cow<'static, str>,
    binds: Vec<Box<dyn QueryFragment<DB> + Send>>,
}

impl<DB: Backend> Prepared<DB> {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Prepared<DB> {
        Prepared { sql: sql.into(), binds: Vec::new() }
    }

    pub fn bind<ST, T>(mut self, value: T) -> Prepared<DB>
    where
        ST: SqlType + TypedExpressionType,
        T: AsExpression<ST>,
        T::Expression: QueryFragment<DB> + Send + 'static,
    {
        self.binds.push(Box::new(value.as_expression()));
        self
    }
}

impl<DB: Backend> QueryFragment<DB> for Prepared<DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // diesel walks a query three times per execution (its cache key,
        // whether it may be cached, its binds), and a multi-row statement has
        // hundreds of placeholders a few bytes apart; a plain byte scan cost
        // the writer a quarter less here than `str::split` (BENCHMARKS.md).
        // `?` is ASCII, so every cut is on a character boundary.
        let sql: &'b str = &self.sql;
        let mut binds = self.binds.iter();
        let mut piece_start = 0;
        for (at, _) in sql.bytes().enumerate().filter(|&(_, b)| b == b'?') {
            out.push_sql(&sql[piece_start..at]);
            let bind = binds.next().ok_or_else(|| {
                diesel::result::Error::QueryBuilderError(
                    format!("fewer binds than placeholders in: {}", self.sql).into(),
                )
            })?;
            bind.walk_ast(out.reborrow())?;
            piece_start = at + 1;
        }
        out.push_sql(&sql[piece_start..]);
        if binds.next().is_some() {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("more binds than placeholders in: {}", self.sql).into(),
            ));
        }
        Ok(())
    }
}

impl<DB: Backend> QueryId for Prepared<DB> {
    type QueryId = ();
    // No static id: the cache is keyed by the SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> Query for Prepared<DB> {
    type SqlType = Untyped;
}

impl<DB: Backend, Conn> RunQueryDsl<Conn> for Prepared<DB> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{BigInt, Text};
    use diesel::{Connection, QueryableByName, SqliteConnection};

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = Text)]
        s: String,
    }

    #[test]
    fn placeholder_rows() {
        assert_eq!(row(3), "(?, ?, ?)");
        assert_eq!(rows(2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn binds_in_order_and_counts_are_checked() {
        let mut c = SqliteConnection::establish(":memory:").expect("sqlite");
        c.batch_execute("CREATE TABLE t (n BIGINT, s TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'b');")
            .expect("setup");
        let rows: Vec<Row> = Prepared::new("SELECT n, s FROM t WHERE s = ? AND n > ? ORDER BY n")
            .bind::<Text, _>("b".to_string())
            .bind::<BigInt, _>(2i64)
            .load(&mut c)
            .expect("query");
        assert_eq!(rows, vec![Row { n: 3, s: "b".into() }]);
        let too_few = Prepared::<diesel::sqlite::Sqlite>::new("SELECT n, s FROM t WHERE n = ? AND s = ?")
            .bind::<BigInt, _>(1i64)
            .load::<Row>(&mut c);
        assert!(too_few.is_err());
        let too_many = Prepared::<diesel::sqlite::Sqlite>::new("SELECT n, s FROM t WHERE n = ?")
            .bind::<BigInt, _>(1i64)
            .bind::<BigInt, _>(2i64)
            .load::<Row>(&mut c);
        assert!(too_many.is_err());
    }
}
