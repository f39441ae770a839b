//! The database: one connection type over SQLite and PostgreSQL, a pool with
//! timeouts, explicit transactions (SQLite writes begin IMMEDIATE), embedded
//! migrations, and the group-commit write queue.
//!
//! Queries are written once and compiled for both backends by
//! [`with_conn!`](crate::with_conn), so each can use its full dialect
//! (`RETURNING`, `ON CONFLICT`) without a lowest-common-denominator layer.

pub mod migrate;
pub mod prepared;
pub mod schema;
pub mod writer;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use std::path::PathBuf;
use std::time::Duration;

pub use writer::{Group, WriteError, WriteQueue};

/// The advisory lock key that makes PostgreSQL write transactions take turns.
const PG_WRITE_LOCK: i64 = 0x6d6b_6f62_6177;

/// A live connection to whichever backend the URL chose.
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of either backend.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite { path: PathBuf },
    Postgres { url: String },
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres { url: url.to_string() });
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or_else(|| {
            DbError::Config(format!(
                "database_url must start with sqlite:// or postgres:// (got '{}')",
                crate::config::mask_url_password(url)
            ))
        })?;
        if path.is_empty() {
            return Err(DbError::Config("database_url sqlite:// needs a file path".into()));
        }
        Ok(Backend::Sqlite { path: PathBuf::from(path) })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Config(String),
    #[error("the write was not committed: {0}")]
    Commit(String),
    #[error("the database writer has stopped")]
    WriterGone,
}

impl DbError {
    /// Conflicts that go away when the same work is tried again: PostgreSQL
    /// serialization failures and deadlocks, SQLite's busy lock.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
            DbError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("deadlock detected")
                    || m.contains("database is locked")
                    || m.contains("database table is locked")
            }
            _ => false,
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Opens connections and sets the SQLite pragmas each one needs.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    busy_timeout_ms: u64,
}

impl Manager {
    pub fn new(backend: Backend, busy_timeout_ms: u64) -> Manager {
        Manager { backend, busy_timeout_ms }
    }

    pub fn connect(&self) -> Result<DbConn, DbError> {
        match &self.backend {
            Backend::Postgres { url } => Ok(DbConn::Pg(PgConnection::establish(url)?)),
            Backend::Sqlite { path } => self.connect_sqlite(&path.to_string_lossy()),
        }
    }

    /// Opens `target` (a path, or a `file:` URI) with the pragmas every
    /// SQLite connection needs.
    fn connect_sqlite(&self, target: &str) -> Result<DbConn, DbError> {
        let mut c = SqliteConnection::establish(target)?;
        // synchronous=FULL: an acknowledged transfer survives power loss.
        // temp_store=MEMORY: RETURNING buffers its rows in a temporary
        // table; on disk that cost the write path ~30%.
        // wal_autocheckpoint=10000 (about 40 MB of WAL): the WAL is
        // copied back by a thread of its own (db::writer::checkpoint);
        // this is the backstop should it fall behind, and a
        // checkpoint the writer itself runs copies each page it
        // rewrote in many commits (an account, an index leaf) once.
        c.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;",
            self.busy_timeout_ms
        ))?;
        Ok(DbConn::Sqlite(c))
    }

    /// A connection for the writer thread (see [`DbConn::tune_for_writer`]).
    /// On SQLite it writes its WAL through [`mkoba_walbuf`], which hands a
    /// commit's frames to the file in a few large writes rather than two
    /// per page.
    pub fn connect_writer(&self) -> Result<DbConn, DbError> {
        let mut conn = match &self.backend {
            Backend::Sqlite { path } => {
                let vfs = mkoba_walbuf::register().map_err(DbError::Config)?;
                self.connect_sqlite(&sqlite_uri(path, &vfs.to_string_lossy()))?
            }
            Backend::Postgres { .. } => self.connect()?,
        };
        conn.tune_for_writer()?;
        Ok(conn)
    }
}

/// The `file:` URI that opens `path` through the VFS named `vfs`. A path's
/// `%`, `?` and `#` are escaped, and an absolute path gets an empty
/// authority (`file:///…`), so that no path reads as a host.
fn sqlite_uri(path: &std::path::Path, vfs: &str) -> String {
    let path = path.to_string_lossy();
    let mut uri = String::with_capacity(path.len() + vfs.len() + 16);
    uri.push_str(if path.starts_with('/') { "file://" } else { "file:" });
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?vfs=");
    uri.push_str(vfs);
    uri
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        Manager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1")
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

impl DbConn {
    pub fn backend_name(&self) -> &'static str {
        match self {
            DbConn::Pg(_) => "postgres",
            DbConn::Sqlite(_) => "sqlite",
        }
    }

    /// Settings of the writer's connection. On PostgreSQL its statements
    /// always use their generic plan: every statement the writer runs finds
    /// rows by key or id, and left to choose, PostgreSQL kept planning the
    /// 64-key lookup afresh on each call (2.5 ms a call against 0.13 ms with
    /// the generic plan; the inline path ran 5,200 against 19,500 transfers/s).
    pub fn tune_for_writer(&mut self) -> Result<(), DbError> {
        match self {
            DbConn::Pg(c) => c.batch_execute("SET plan_cache_mode = force_generic_plan").map_err(DbError::from),
            DbConn::Sqlite(_) => Ok(()),
        }
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        with_conn!(self, c => c.batch_execute(sql)).map_err(DbError::from)
    }

    /// Begins the outer write transaction. Transactions go through diesel's
    /// transaction manager, so anything nested (diesel's own or a job's)
    /// becomes a savepoint.
    ///
    /// Write transactions run one at a time per database, whichever process
    /// holds them: SQLite's `BEGIN IMMEDIATE` takes its write lock, and on
    /// PostgreSQL a transaction-scoped advisory lock does the same. Batches of
    /// transfers lock accounts in different orders (most touch the fee
    /// account), so two concurrent batches could deadlock, and each
    /// PostgreSQL deadlock costs a second to detect. Group commit is what
    /// keeps a single writer fast.
    pub(crate) fn begin_write(&mut self) -> Result<(), DbError> {
        match self {
            DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
            DbConn::Pg(c) => {
                AnsiTransactionManager::begin_transaction(c)?;
                if let Err(e) = c.batch_execute(&format!("SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")) {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Begins a transaction, or a savepoint inside one.
    pub(crate) fn begin_nested(&mut self) -> Result<(), DbError> {
        with_conn!(self, c => AnsiTransactionManager::begin_transaction(c)).map_err(DbError::from)
    }

    /// Commits the innermost transaction (or releases its savepoint).
    pub(crate) fn commit(&mut self) -> Result<(), DbError> {
        with_conn!(self, c => AnsiTransactionManager::commit_transaction(c)).map_err(DbError::from)
    }

    /// Rolls back the innermost transaction (or to its savepoint).
    pub(crate) fn rollback(&mut self) -> Result<(), DbError> {
        with_conn!(self, c => AnsiTransactionManager::rollback_transaction(c)).map_err(DbError::from)
    }
}

/// Opens the pool; for SQLite, creates the file's directory first.
/// `min_idle` connections are kept open, reopened in the background when
/// taken: a short-lived process (the CLI) asks for none, so that no
/// connection is being opened on a pool thread when it exits.
pub fn open_pool(
    database_url: &str,
    size: u32,
    min_idle: u32,
    timeout_ms: u64,
    busy_timeout_ms: u64,
) -> Result<Pool, DbError> {
    let backend = Backend::from_url(database_url)?;
    if let Backend::Sqlite { path } = &backend {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        create_private(path)?;
    }
    let manager = Manager::new(backend, busy_timeout_ms);
    // Connect once up front so a bad URL fails with its own message, not a pool timeout.
    drop(manager.connect()?);
    let pool = r2d2::Pool::builder()
        .max_size(size.max(2))
        .min_idle(Some(min_idle))
        .connection_timeout(Duration::from_millis(timeout_ms))
        .test_on_check_out(false)
        .build(manager)?;
    Ok(pool)
}

/// Creates a new SQLite file readable only by its owner (it holds PIN
/// hashes) before SQLite opens it; SQLite then gives the `-wal` and `-shm`
/// files the main file's mode. An existing file keeps its mode (the operator
/// may have chosen it) but a warning says when others can read it.
fn create_private(path: &std::path::Path) -> Result<(), DbError> {
    let name = path.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(path) {
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(
                            file = %path.display(),
                            mode = format!("{:o}", meta.permissions().mode() & 0o777),
                            "others may open the database file, which holds PIN hashes: chmod 600 it"
                        );
                    }
                }
            }
            Ok(())
        }
        Err(e) => Err(DbError::Config(format!("cannot create {}: {e}", path.display()))),
    }
}

/// Runs blocking database work off the async executor.
pub async fn blocking<T: Send + 'static, E: From<DbError> + Send + 'static>(
    pool: &Pool,
    f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(DbError::from)?;
        f(&mut conn)
    })
    .await
    .unwrap_or_else(|_| Err(E::from(DbError::WriterGone)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;
    use std::path::Path;

    #[test]
    fn writer_uris_escape_what_a_uri_would_read_as_syntax() {
        assert_eq!(sqlite_uri(Path::new("/var/lib/mkoba.db"), "v"), "file:///var/lib/mkoba.db?vfs=v");
        assert_eq!(sqlite_uri(Path::new("mkoba.db"), "v"), "file:mkoba.db?vfs=v");
        assert_eq!(sqlite_uri(Path::new("//odd/a?b#c%d.db"), "v"), "file:////odd/a%3fb%23c%25d.db?vfs=v");
    }

    /// The writer opens a path that needs escaping, through the WAL shim,
    /// and what it commits is in the file for any other connection.
    #[test]
    fn the_writer_connection_commits_where_other_connections_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("odd ?#% name.db");
        let manager = Manager::new(Backend::Sqlite { path: path.clone() }, 5_000);
        let mut writer = manager.connect_writer().expect("writer");
        let before = mkoba_walbuf::wal_write_calls();
        writer.batch_execute("CREATE TABLE t (n BIGINT); INSERT INTO t VALUES (1), (2), (3);").expect("write");
        // Through the shim (its count only rises: other tests may add to it).
        assert!(mkoba_walbuf::wal_write_calls() > before, "the writer's WAL writes go through mkoba-walbuf");
        let mut reader = manager.connect().expect("reader");
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sum: Vec<N> =
            with_conn!(&mut reader, c => diesel::sql_query("SELECT SUM(n) AS n FROM t").load(c)).expect("read");
        assert_eq!(sum[0].n, 6);
        assert!(path.exists(), "the file is where the path says");
    }
}
