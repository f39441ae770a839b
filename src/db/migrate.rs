//! Embedded migrations, one set per backend, kept in step.

use super::{DbConn, DbError};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant: the advisory lock that serialises migrations when
/// several `mkoba serve` processes start at once on one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x006d_6b6f_6261;

#[derive(diesel::QueryableByName)]
struct ForeignKeyProblem {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
}

/// Applies pending migrations; returns how many ran.
pub fn run(conn: &mut DbConn) -> Result<usize, DbError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        DbConn::Sqlite(c) => {
            // A table whose CHECK widens is rebuilt (SQLite's documented
            // procedure): foreign keys off while it is swapped, then checked.
            c.batch_execute("PRAGMA foreign_keys = OFF")?;
            let ran = c.run_pending_migrations(SQLITE).map(|v| v.len()).map_err(err);
            let broken: Vec<ForeignKeyProblem> = diesel::sql_query("PRAGMA foreign_key_check").load(c)?;
            c.batch_execute("PRAGMA foreign_keys = ON")?;
            if let Some(p) = broken.first() {
                return Err(DbError::Migration(format!(
                    "{} rows break foreign keys after migrating (first in table {})",
                    broken.len(),
                    p.table
                )));
            }
            ran
        }
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let ran = c.run_pending_migrations(POSTGRES).map(|v| v.len()).map_err(err);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            ran
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::{Connection, SqliteConnection};

    /// Upgrading a database that already holds transfers: their receipts
    /// were queued by the old write path, so none is queued again.
    #[test]
    fn the_receipts_cursor_starts_past_the_transfers_already_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        let mut c = SqliteConnection::establish(&path.to_string_lossy()).expect("open");
        for _ in 0..4 {
            c.run_next_migration(SQLITE).expect("migrations 1-4");
        }
        c.batch_execute(
            "INSERT INTO accounts (kind, msisdn, name, tier, created_at_ms) VALUES \
               ('customer', '254700000001', 'A', 'basic', 0), ('customer', '254700000002', 'B', 'basic', 0); \
             INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, \
               credit_account_id, amount_minor, created_at_ms) VALUES \
               ('AAAAAAAAA1', 'k1', 'f', 'p2p', 5, 6, 100, 0), ('AAAAAAAAA2', 'k2', 'f', 'p2p', 5, 6, 100, 0);",
        )
        .expect("old rows");
        let mut conn = DbConn::Sqlite(c);
        assert!(run(&mut conn).expect("the rest") >= 1);
        assert_eq!(crate::notify::receipts::cursor(&mut conn).expect("cursor"), 2);
        assert_eq!(crate::notify::receipts::waiting(&mut conn).expect("waiting"), 0);
    }
}
