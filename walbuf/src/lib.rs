//! A commit's WAL frames in a few large writes instead of two per page.
//!
//! SQLite writes each frame of its write-ahead log with two `write` calls:
//! the frame's 24-byte header, then the page. A group commit of the ledger
//! writer at 13,000 charges/s is about 65 pages, so some 130 system calls,
//! each paying the file system's per-call cost: about a seventh of the
//! writer's CPU in the charges profile. Gathered into a few large calls,
//! the writer's CPU per charge fell by 11–18 % and its write calls per
//! charge from 5.0 to 1.1, of which about 1 is the wake-up of a waiting
//! caller (BENCHMARKS.md, "Charges per second, 2026-12-01, fourth sitting").
//!
//! [`register`] adds a VFS named [`NAME`] that wraps the default one. Every
//! file but a WAL is the default VFS's own. A WAL's writes that follow on
//! from each other gather in memory and reach the file together (in calls
//! of at most [`CHUNK`] bytes, the most the unix VFS takes at once):
//! - as soon as a commit frame (a header whose "database size" field is not
//!   zero) and its page are in; a commit header that starts no run (a
//!   one-frame commit's, or one SQLite rewrites with new checksums) goes
//!   through at once. So nothing of a commit is held when SQLite publishes
//!   it to other connections, whatever `synchronous` is;
//! - before a sync, read, truncate, size query, file control or close, so
//!   SQLite never syncs, reads or measures what the file does not hold;
//! - before a write that does not follow on, and when the buffer would pass
//!   [`CAP`] bytes.
//!
//! Nothing is held past the point where SQLite relies on it, so a crash
//! loses at most frames of a commit that had not yet returned, as without
//! the shim. This is the one crate of the workspace that uses `unsafe`: a
//! VFS is C's function tables and raw file structs.

use libsqlite3_sys as ffi;
use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The VFS's name, for `?vfs=` in an SQLite URI or `sqlite3_open_v2`.
pub const NAME: &CStr = c"mkoba-walbuf";

/// The most a WAL file holds back, in bytes.
pub const CAP: usize = 8 << 20;

/// The most one write call carries: the unix VFS takes at most 128 KiB - 1
/// bytes a call (`seekAndWriteFd` masks the length with `0x1ffff`).
const CHUNK: usize = 96 << 10;

/// What a buffer keeps of its allocation after a flush.
const KEEP: usize = 2 << 20;

/// A WAL frame header: page number, database size after a commit (zero
/// for any other frame), salts and checksums.
const FRAME_HEADER: usize = 24;

/// Write calls the shim has made to WAL files, process-wide.
static WAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// Write calls made to WAL files through this VFS since the process began
/// (for tests and measurements).
pub fn wal_write_calls() -> u64 {
    WAL_WRITES.load(Ordering::Relaxed)
}

/// Registers the VFS (once per process; not as the default) and returns
/// its name.
pub fn register() -> Result<&'static CStr, String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` initialises SQLite if need be and
            // returns a VFS that lives as long as the process. The copy is
            // leaked, so it does too, as `sqlite3_vfs_register` requires.
            unsafe {
                let parent = ffi::sqlite3_vfs_find(ptr::null());
                if parent.is_null() {
                    return Err("SQLite has no default VFS".to_string());
                }
                let mut vfs = *parent;
                vfs.zName = NAME.as_ptr();
                vfs.pNext = ptr::null_mut();
                vfs.pAppData = parent.cast();
                vfs.szOsFile = c_int::try_from(REAL_AT + usize::try_from((*parent).szOsFile).unwrap_or(0))
                    .map_err(|_| "the default VFS's file struct is too large".to_string())?;
                vfs.xOpen = Some(open);
                let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0);
                if rc == ffi::SQLITE_OK {
                    Ok(())
                } else {
                    Err(format!("sqlite3_vfs_register failed with code {rc}"))
                }
            }
        })
        .clone()
        .map(|()| NAME)
}

/// A WAL file: SQLite's file header, the writes held back, and then (at
/// [`REAL_AT`]) the default VFS's own file.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    held: *mut Held,
}

/// Where the default VFS's file starts in the block SQLite allocates.
const REAL_AT: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// Consecutive writes not yet handed to the file.
struct Held {
    /// File offset of `bytes[0]`.
    start: i64,
    bytes: Vec<u8>,
    /// Where the page of the last commit frame's header goes: the write
    /// there ends the commit.
    commit_page_at: Option<i64>,
}

impl Held {
    fn end(&self) -> i64 {
        self.start.saturating_add(i64::try_from(self.bytes.len()).unwrap_or(i64::MAX))
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

// SAFETY (every function below): SQLite calls a file's methods with the
// file it opened through `open`, from one thread at a time (a connection
// is used by one thread at a time), and only after `open` succeeded.
// `open` gave every such file our `METHODS`, a live `held` and, at
// `REAL_AT`, an open file of the default VFS.

/// The default VFS's file inside ours.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().add(REAL_AT).cast()
}

/// The default VFS's methods for it.
unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real(file)).pMethods
}

unsafe fn held<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Held {
    &mut *(*file.cast::<WalFile>()).held
}

/// One write call to the default VFS's file, counted.
unsafe fn write_through(file: *mut ffi::sqlite3_file, buf: *const c_void, amt: c_int, offset: i64) -> c_int {
    WAL_WRITES.fetch_add(1, Ordering::Relaxed);
    methods(file).xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |f| f(real(file), buf, amt, offset))
}

/// Hands what is held to the file, in as few writes as the default VFS
/// takes (at most [`CHUNK`] bytes each).
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let held = held(file);
    held.commit_page_at = None;
    let mut rc = ffi::SQLITE_OK;
    let mut offset = held.start;
    for piece in held.bytes.chunks(CHUNK) {
        // A piece is at most CHUNK bytes, which fits both.
        let n = c_int::try_from(piece.len()).unwrap_or(c_int::MAX);
        rc = write_through(file, piece.as_ptr().cast(), n, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset = offset.saturating_add(i64::from(n));
    }
    // On failure SQLite abandons the transaction and rewrites its frames.
    held.bytes.clear();
    held.bytes.shrink_to(KEEP);
    rc
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let parent: *mut ffi::sqlite3_vfs = (*vfs).pAppData.cast();
    let Some(parent_open) = (*parent).xOpen else { return ffi::SQLITE_CANTOPEN };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Any other file is the default VFS's own, at the block's start
        // (our block is larger than its file needs).
        return parent_open(parent, name, file, flags, out_flags);
    }
    let wal = file.cast::<WalFile>();
    (*wal).base.pMethods = ptr::null();
    (*wal).held = ptr::null_mut();
    let rc = parent_open(parent, name, real(file), flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // A null pMethods tells SQLite there is nothing to close.
        return rc;
    }
    (*wal).held = Box::into_raw(Box::new(Held { start: 0, bytes: Vec::new(), commit_page_at: None }));
    (*wal).base.pMethods = &METHODS;
    rc
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let flushed = flush(file);
    let closed = match methods(file).xClose {
        Some(close) => close(real(file)),
        None => ffi::SQLITE_OK,
    };
    let wal = file.cast::<WalFile>();
    drop(Box::from_raw((*wal).held));
    (*wal).held = ptr::null_mut();
    (*wal).base.pMethods = ptr::null();
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amt: c_int, offset: i64) -> c_int {
    let len = match usize::try_from(amt) {
        Ok(len) if len > 0 && !buf.is_null() => len,
        // Nothing SQLite writes; left to the default VFS to judge.
        _ => return write_through(file, buf, amt, offset),
    };
    let data = std::slice::from_raw_parts(buf.cast::<u8>(), len);
    // A commit frame's header: its page, which ends the commit, comes next.
    let commit_page = (len == FRAME_HEADER && data[4..8] != [0; 4]).then(|| offset.saturating_add(len as i64));
    let (follows, ends_commit) = {
        let held = held(file);
        let follows = !held.bytes.is_empty() && offset == held.end() && held.bytes.len() + len <= CAP;
        (follows, held.commit_page_at == Some(offset))
    };
    if !follows {
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if len > CHUNK || commit_page.is_some() {
            // A commit header that starts no run of frames is a one-frame
            // commit's, or one SQLite rewrites with new checksums after the
            // commit frame (no page follows it). Written at once, so that
            // nothing of a commit is left here when SQLite publishes it.
            let rc = write_through(file, buf, amt, offset);
            held(file).commit_page_at = commit_page;
            return rc;
        }
        held(file).start = offset;
    }
    held(file).bytes.extend_from_slice(data);
    if ends_commit {
        return flush(file);
    }
    held(file).commit_page_at = commit_page;
    ffi::SQLITE_OK
}

/// Flushes what is held, then (if that went through) runs the default
/// VFS's method `then`: for every method that reads, measures, syncs or
/// changes the file.
unsafe fn flushed(file: *mut ffi::sqlite3_file, then: impl FnOnce() -> c_int) -> c_int {
    match flush(file) {
        ffi::SQLITE_OK => then(),
        rc => rc,
    }
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amt: c_int, offset: i64) -> c_int {
    flushed(file, || methods(file).xRead.map_or(ffi::SQLITE_IOERR_READ, |f| f(real(file), buf, amt, offset)))
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flushed(file, || methods(file).xTruncate.map_or(ffi::SQLITE_IOERR_TRUNCATE, |f| f(real(file), size)))
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flushed(file, || methods(file).xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |f| f(real(file), flags)))
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flushed(file, || methods(file).xFileSize.map_or(ffi::SQLITE_IOERR_FSTAT, |f| f(real(file), size)))
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    flushed(file, || methods(file).xFileControl.map_or(ffi::SQLITE_NOTFOUND, |f| f(real(file), op, arg)))
}

unsafe extern "C" fn fetch(file: *mut ffi::sqlite3_file, offset: i64, amt: c_int, pp: *mut *mut c_void) -> c_int {
    flushed(file, || match methods(file).xFetch {
        Some(f) => f(real(file), offset, amt, pp),
        None => {
            *pp = ptr::null_mut();
            ffi::SQLITE_OK
        }
    })
}

// The rest pass straight through: none of them sees the file's bytes.

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    methods(file).xLock.map_or(ffi::SQLITE_OK, |f| f(real(file), level))
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    methods(file).xUnlock.map_or(ffi::SQLITE_OK, |f| f(real(file), level))
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    match methods(file).xCheckReservedLock {
        Some(f) => f(real(file), out),
        None => {
            *out = 0;
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    methods(file).xSectorSize.map_or(4096, |f| f(real(file)))
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    methods(file).xDeviceCharacteristics.map_or(0, |f| f(real(file)))
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    match methods(file).xShmMap {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), page, size, extend, pp),
        _ => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    match methods(file).xShmLock {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), offset, n, flags),
        _ => ffi::SQLITE_IOERR_SHMLOCK,
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    if let Some(f) = methods(file).xShmBarrier.filter(|_| methods(file).iVersion >= 2) {
        f(real(file));
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    match methods(file).xShmUnmap {
        Some(f) if methods(file).iVersion >= 2 => f(real(file), delete),
        _ => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    match methods(file).xUnfetch {
        Some(f) if methods(file).iVersion >= 3 => f(real(file), offset, p),
        _ => ffi::SQLITE_OK,
    }
}

#[cfg(test)]
mod tests;
