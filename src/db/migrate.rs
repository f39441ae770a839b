//! Embedded migrations, one set per backend, kept in step.

use super::{DbConn, DbError};
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant: the advisory lock that serialises migrations when
/// several `mkoba serve` processes start at once on one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x006d_6b6f_6261;

/// Applies pending migrations; returns how many ran.
pub fn run(conn: &mut DbConn) -> Result<usize, DbError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|v| v.len()).map_err(err),
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let ran = c.run_pending_migrations(POSTGRES).map(|v| v.len()).map_err(err);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            ran
        }
    }
}
