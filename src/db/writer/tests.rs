//! The writer against a real SQLite file: panics, groups and fallbacks.

use super::*;
use std::sync::Mutex;

#[test]
fn a_panicking_job_is_refused_alone_and_the_writer_lives_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = super::super::Backend::Sqlite { path: dir.path().join("w.db") };
    let queue =
        WriteQueue::start(Manager::new(backend, 1_000), 16, 16, "test-writer", Default::default()).expect("writer");
    let boom = queue.run_blocking(|_conn| -> Result<(), DbError> { panic!("bug in a job") });
    assert!(matches!(boom, Err(DbError::Commit(_))), "{boom:?}");
    let fine = queue.run_blocking(|conn| conn.batch_execute("CREATE TABLE t (x INTEGER)"));
    assert!(fine.is_ok(), "{fine:?}");
}

type Numbers = Group<i64, i64, DbError>;

fn insert(conn: &mut DbConn, x: i64) -> Result<(), DbError> {
    conn.batch_execute(&format!("INSERT INTO t VALUES ({x})"))
}

/// A group that inserts its numbers; `all` records how many it got, answers
/// each number negated ("ran as part of a group"), and fails when any ends
/// in 3, after inserting them.
fn numbers_group(sizes: Arc<Mutex<Vec<usize>>>) -> Arc<Numbers> {
    Arc::new(Group::<i64, i64, DbError> {
        one: Box::new(move |conn, &x| insert(conn, x).map(|()| x)),
        all: Box::new(move |conn, xs| {
            sizes.lock().expect("sizes").push(xs.len());
            for &&x in xs {
                insert(conn, x)?;
            }
            if xs.iter().any(|&&x| x % 10 == 3) {
                return Err(DbError::Commit("a 3 spoils the group".into()));
            }
            // Negative: "ran as part of a group".
            Ok(xs.iter().map(|&&x| Ok(-x)).collect())
        }),
    })
}

/// Holds the writer with a plain job while `plain` (a job of no group),
/// then `xs`, queue up behind it: they make one batch.
fn queue_behind_a_busy_writer(queue: &WriteQueue, group: &Arc<Numbers>, plain: Option<i64>, xs: &[i64]) -> Vec<i64> {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let hold = Mutex::new(hold);
    std::thread::scope(|s| {
        let busy = s.spawn(move || {
            queue.run_blocking(move |_| {
                let _ = hold.lock().expect("hold").recv();
                Ok::<_, DbError>(())
            })
        });
        std::thread::sleep(Duration::from_millis(200));
        let before = plain.map(|x| s.spawn(move || queue.run_blocking(move |conn| insert(conn, x))));
        std::thread::sleep(Duration::from_millis(100));
        let waiting: Vec<_> = xs.iter().map(|&x| s.spawn(move || queue.run_grouped_blocking(group, x))).collect();
        std::thread::sleep(Duration::from_millis(500));
        release.send(()).expect("release");
        busy.join().expect("busy job").expect("busy job commits");
        if let Some(before) = before {
            before.join().expect("plain job").expect("plain job commits");
        }
        let mut got: Vec<i64> = waiting.into_iter().map(|h| h.join().expect("join").expect("committed")).collect();
        got.sort_unstable();
        got
    })
}

/// How many rows `t` holds and their sum.
fn count_and_sum(queue: &WriteQueue) -> Option<(i64, i64)> {
    queue
        .run_blocking(|conn| {
            #[derive(diesel::QueryableByName)]
            struct Sum {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                total: i64,
            }
            use diesel::RunQueryDsl;
            let DbConn::Sqlite(c) = conn else { unreachable!("a SQLite test") };
            let rows: Vec<Sum> =
                diesel::sql_query("SELECT COUNT(*) AS n, SUM(x) AS total FROM t").load(c).map_err(DbError::from)?;
            Ok::<_, DbError>(rows.first().map(|r| (r.n, r.total)))
        })
        .expect("read")
}

#[test]
fn requests_of_a_group_that_queue_up_run_together_or_else_one_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = super::super::Backend::Sqlite { path: dir.path().join("g.db") };
    let queue =
        WriteQueue::start(Manager::new(backend, 1_000), 64, 64, "test-writer", Default::default()).expect("writer");
    queue.run_blocking(|conn| conn.batch_execute("CREATE TABLE t (x INTEGER)")).expect("table");
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let group = numbers_group(sizes.clone());
    let queue_behind_a_busy_writer = |plain, xs: &[i64]| queue_behind_a_busy_writer(&queue, &group, plain, xs);

    // The group is the whole batch: it runs in the batch's transaction.
    assert_eq!(queue_behind_a_busy_writer(None, &[1, 2, 4, 5]), [-5, -4, -2, -1], "one call of `all`");
    assert_eq!(queue_behind_a_busy_writer(None, &[11, 12, 13]), [11, 12, 13], "spoilt: each runs alone");
    // The group follows another job: it runs in a savepoint of its own.
    assert_eq!(queue_behind_a_busy_writer(Some(20), &[21, 22]), [-22, -21], "one call of `all`");
    assert_eq!(queue_behind_a_busy_writer(Some(30), &[31, 33]), [31, 33], "spoilt: each runs alone");
    assert_eq!(*sizes.lock().expect("sizes"), [4, 3, 2, 2]);

    let rows = count_and_sum(&queue);
    // Every job's row once; nothing of a spoilt group's own run is kept,
    // and the job before it (30) is.
    assert_eq!(rows, Some((13, 12 + 36 + 63 + 94)), "rows {rows:?}");
}

#[test]
fn commits_reach_the_database_file_without_the_writer_checkpointing() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.db");
    let backend = super::super::Backend::Sqlite { path: path.clone() };
    let queue =
        WriteQueue::start(Manager::new(backend, 1_000), 16, 16, "test-writer", Default::default()).expect("writer");
    let made =
        queue.run_blocking(|conn| conn.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)"));
    assert!(made.is_ok(), "{made:?}");
    // A few pages: far from the writer's own checkpoint (10,000 pages), so
    // they reach the file only if the checkpointer copies them. `immutable`
    // reads the database file alone, without the WAL.
    let file_only = format!("file:{}?immutable=1", path.display());
    let mut seen = None;
    for _ in 0..100 {
        std::thread::sleep(checkpoint::INTERVAL / 2);
        let mut c = SqliteConnection::establish(&file_only).expect("open the file alone");
        c.batch_execute("PRAGMA query_only = ON").expect("read only");
        if let Ok(rows) = diesel::sql_query("SELECT COUNT(*) AS n FROM t").load::<Count>(&mut c) {
            seen = rows.first().map(|r| r.n);
            break;
        }
    }
    assert_eq!(seen, Some(2), "the rows are in the database file itself");
}
