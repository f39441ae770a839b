//! Against real files: one write call per commit, what other connections
//! see after every commit (with and without a sync), transactions that
//! spill pages into the WAL before they commit or roll back, a WAL that
//! restarts, and the database's integrity after all of it.

use super::*;
use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::Mutex;

/// The write counter is process-wide: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

struct Db(*mut ffi::sqlite3);

impl Db {
    fn open(path: &Path, vfs: Option<&CStr>) -> Db {
        let path = CString::new(path.to_str().expect("utf-8 path")).expect("path");
        let mut db = ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE;
        let vfs = vfs.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: valid C strings; `db` receives the handle.
        let rc = unsafe { ffi::sqlite3_open_v2(path.as_ptr(), &mut db, flags, vfs) };
        assert_eq!(rc, ffi::SQLITE_OK, "open");
        let db = Db(db);
        db.exec("PRAGMA busy_timeout = 5000");
        db
    }

    fn exec(&self, sql: &str) {
        let sql = CString::new(sql).expect("sql");
        let mut err = ptr::null_mut();
        // SAFETY: an open handle and a valid C string; `err` is freed below.
        let rc = unsafe { ffi::sqlite3_exec(self.0, sql.as_ptr(), None, ptr::null_mut(), &mut err) };
        if rc != ffi::SQLITE_OK {
            // SAFETY: SQLite set `err` to a message it allocated.
            let msg = unsafe { CStr::from_ptr(err).to_string_lossy().into_owned() };
            unsafe { ffi::sqlite3_free(err.cast()) };
            panic!("{sql:?}: {msg}");
        }
    }

    fn text(&self, sql: &str) -> String {
        let sql = CString::new(sql).expect("sql");
        let mut stmt = ptr::null_mut();
        // SAFETY: an open handle; the statement is finalized below.
        unsafe {
            assert_eq!(ffi::sqlite3_prepare_v2(self.0, sql.as_ptr(), -1, &mut stmt, ptr::null_mut()), ffi::SQLITE_OK);
            assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW, "{sql:?} returns a row");
            let text = CStr::from_ptr(ffi::sqlite3_column_text(stmt, 0).cast()).to_string_lossy().into_owned();
            ffi::sqlite3_finalize(stmt);
            text
        }
    }

    fn int(&self, sql: &str) -> i64 {
        self.text(sql).parse().expect("an integer")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: the handle is open and every statement finalized.
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

fn wal_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn fresh(dir: &Path, synchronous: &str) -> (Db, Db) {
    let name = register().expect("register");
    let path = dir.join("t.db");
    let writer = Db::open(&path, Some(name));
    writer.exec(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA wal_autocheckpoint = 0; \
         CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, v BLOB NOT NULL)"
    ));
    let reader = Db::open(&path, None);
    (writer, reader)
}

/// `n` rows of about 300 bytes from `from`, under random unique keys, so
/// they touch pages across the table and its index.
fn insert(db: &Db, from: i64, n: i64) {
    db.exec(&format!(
        "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {}) \
         INSERT INTO t (id, k, v) SELECT i, hex(randomblob(16)), randomblob(300) FROM s",
        from + n - 1
    ));
}

#[test]
fn a_commit_reaches_the_wal_in_a_few_large_writes_and_other_connections_see_it() {
    let _turn = turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, reader) = fresh(dir.path(), "FULL");
    let wal = dir.path().join("t.db-wal");
    let mut rows = 0;
    for round in 0..30 {
        let (calls_before, size_before) = (wal_write_calls(), wal_size(&wal));
        writer.exec("BEGIN IMMEDIATE");
        insert(&writer, rows + 1, 200);
        writer.exec("COMMIT");
        rows += 200;
        let calls = wal_write_calls() - calls_before;
        let bytes = wal_size(&wal) - size_before;
        // Dozens of frames, each of which SQLite writes in two calls.
        let frames = bytes / (4096 + 24);
        assert!(frames >= 20, "round {round}: a commit of {frames} frames");
        // The WAL's own header goes first (and is synced) when it starts.
        let most = 1 + bytes.div_ceil(CHUNK as u64);
        assert!(calls <= most, "round {round}: {calls} write calls for a commit of {frames} frames");
        assert_eq!(reader.int("SELECT COUNT(*) FROM t"), rows);
    }
    assert_eq!(reader.text("PRAGMA integrity_check"), "ok");
}

#[test]
fn a_commit_without_a_sync_is_in_the_file_before_readers_are_told() {
    let _turn = turn();
    // With synchronous = NORMAL SQLite publishes a commit without syncing:
    // only the commit frame's flush puts it in the file first.
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, reader) = fresh(dir.path(), "NORMAL");
    let mut rows = 0;
    for _ in 0..30 {
        insert(&writer, rows + 1, 150);
        rows += 150;
        assert_eq!(reader.int("SELECT COUNT(*) FROM t"), rows);
        assert_eq!(reader.int("SELECT COUNT(*) FROM t WHERE length(v) = 300"), rows);
    }
    assert_eq!(reader.text("PRAGMA integrity_check"), "ok");
}

#[test]
fn spilled_rolled_back_and_restarted_wal_frames_read_back_right() {
    let _turn = turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, reader) = fresh(dir.path(), "FULL");
    // A tiny cache makes a large transaction spill pages into the WAL
    // before it commits, and read them back from there.
    writer.exec("PRAGMA cache_size = 8");
    insert(&writer, 1, 2_000);
    writer.exec("BEGIN IMMEDIATE");
    insert(&writer, 2_001, 5_000);
    writer.exec("UPDATE t SET v = randomblob(310) WHERE id % 3 = 0");
    writer.exec("ROLLBACK");
    assert_eq!(reader.int("SELECT COUNT(*) FROM t"), 2_000);
    writer.exec("BEGIN IMMEDIATE");
    insert(&writer, 2_001, 5_000);
    writer.exec("UPDATE t SET v = randomblob(310) WHERE id % 3 = 0");
    writer.exec("COMMIT");
    assert_eq!(reader.int("SELECT COUNT(*) FROM t"), 7_000);
    assert_eq!(reader.int("SELECT COUNT(*) FROM t WHERE length(v) = 310"), 7_000 / 3);
    // Back to the start of the WAL, then on past it.
    assert_eq!(writer.text("PRAGMA wal_checkpoint(TRUNCATE)"), "0");
    for k in 0..5 {
        insert(&writer, 7_001 + k * 500, 500);
    }
    assert_eq!(reader.int("SELECT COUNT(*) FROM t"), 9_500);
    assert_eq!(writer.text("PRAGMA integrity_check"), "ok");
    assert_eq!(reader.text("PRAGMA integrity_check"), "ok");
    drop(writer);
    drop(reader);
    // And from the file alone, through the default VFS.
    let again = Db::open(&dir.path().join("t.db"), None);
    assert_eq!(again.int("SELECT COUNT(*) FROM t"), 9_500);
    assert_eq!(again.text("PRAGMA integrity_check"), "ok");
}

#[test]
fn other_files_are_the_default_vfs_own() {
    let _turn = turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = register().expect("register");
    // A rollback journal, not a WAL: every write goes straight through.
    let db = Db::open(&dir.path().join("j.db"), Some(name));
    db.exec("PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    insert_plain(&db);
    assert_eq!(db.int("SELECT COUNT(*) FROM t"), 1_000);
    assert_eq!(db.text("PRAGMA integrity_check"), "ok");
}

fn insert_plain(db: &Db) {
    db.exec(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000) \
         INSERT INTO t (id, v) SELECT i, randomblob(200) FROM s",
    );
}

/// What a crash would leave right after a commit returns (the database and
/// WAL files as they are, without the shared memory) opens elsewhere and
/// recovers every commit. Under NORMAL too, whose commits are not synced,
/// with transactions that spill pages and then change them again, so that
/// SQLite overwrites frames of their own and rewrites checksums after the
/// commit frame.
#[test]
fn the_files_right_after_a_commit_recover_every_commit() {
    let _turn = turn();
    for synchronous in ["FULL", "NORMAL"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, _reader) = fresh(dir.path(), synchronous);
        writer.exec("PRAGMA cache_size = 8");
        let mut rows = 0;
        for round in 0..6 {
            writer.exec("BEGIN IMMEDIATE");
            insert(&writer, rows + 1, 1_500);
            writer.exec(&format!("UPDATE t SET v = randomblob(300) WHERE id > {rows} AND id % 2 = 0"));
            writer.exec("COMMIT");
            rows += 1_500;
            let copy = tempfile::tempdir().expect("tempdir");
            for name in ["t.db", "t.db-wal"] {
                std::fs::copy(dir.path().join(name), copy.path().join(name)).expect("copy");
            }
            let db = Db::open(&copy.path().join("t.db"), None);
            assert_eq!(db.int("SELECT COUNT(*) FROM t"), rows, "{synchronous}, round {round}");
            assert_eq!(db.text("PRAGMA integrity_check"), "ok", "{synchronous}, round {round}");
        }
    }
}
