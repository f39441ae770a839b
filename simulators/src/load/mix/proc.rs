//! The `mkoba` processes a mix run drives: the CLI for set-up and audit
//! (`customer register`, `transfer list --json`, `ledger verify`…) and the
//! `mkoba serve` nodes it starts, kills with SIGKILL and restarts. Every
//! process runs in the run's working directory with the run's `MKOBA_*`
//! environment on top of the inherited one.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use super::super::LoadError;

/// How to run `mkoba`.
#[derive(Clone, Debug)]
pub struct Mkoba {
    pub bin: PathBuf,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// What a CLI command printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Mkoba {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.workdir).kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `mkoba ARGS` with `stdin` (a PIN, or nothing).
    pub async fn cli(&self, args: &[&str], stdin: &str) -> Result<CliOutput, LoadError> {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = format!("mkoba {}", args.first().copied().unwrap_or_default());
        let mut child = cmd.spawn().map_err(|e| LoadError(format!("cannot run {}: {e}", self.bin.display())))?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).await.map_err(|e| LoadError(format!("{what}: stdin: {e}")))?;
        }
        let out = child.wait_with_output().await.map_err(|e| LoadError(format!("{what}: {e}")))?;
        Ok(CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs a CLI command that must succeed; returns its standard output.
    pub async fn ok(&self, args: &[&str], stdin: &str) -> Result<String, LoadError> {
        let out = self.cli(args, stdin).await?;
        if out.code != 0 {
            let cmd = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
            return Err(LoadError(format!("mkoba {cmd} exited {}: {}", out.code, out.stderr.trim())));
        }
        Ok(out.stdout)
    }

    /// Starts `mkoba serve` listening on `port`, its output appended to
    /// `mkoba-serve-<node>.log` in the working directory.
    pub fn serve(&self, node: usize, port: u16) -> Result<Child, LoadError> {
        let log_path = self.workdir.join(format!("mkoba-serve-{node}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| LoadError(format!("{}: {e}", log_path.display())))?;
        let log2 = log.try_clone().map_err(|e| LoadError(e.to_string()))?;
        let mut cmd = self.command();
        cmd.arg("serve").env("MKOBA_LISTEN", format!("127.0.0.1:{port}")).stdin(Stdio::null());
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        cmd.spawn().map_err(|e| LoadError(format!("cannot start {} serve: {e}", self.bin.display())))
    }
}

/// A free loopback port (bound, then released for mkoba to take).
pub fn free_port() -> Result<u16, LoadError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| LoadError(e.to_string()))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| LoadError(e.to_string()))
}

/// Milliseconds since `origin`.
pub fn ms_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One `mkoba serve` node: its address, its process (none while killed),
/// and when it last served a hop.
pub struct Node {
    pub index: usize,
    pub port: u16,
    pub url: String,
    pub child: Mutex<Option<Child>>,
    /// First hop served since the last restart, in ms since the run's
    /// origin plus one (0: none yet).
    pub first_ok_ms: AtomicU64,
}

impl Node {
    pub fn new(index: usize, port: u16) -> Node {
        Node {
            index,
            port,
            url: format!("http://127.0.0.1:{port}"),
            child: Mutex::new(None),
            first_ok_ms: AtomicU64::new(0),
        }
    }

    /// Notes a served hop at `at_ms` (only the first after a restart counts).
    pub fn served(&self, at_ms: u64) {
        let _ = self.first_ok_ms.compare_exchange(0, at_ms.saturating_add(1), Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn set_child(&self, child: Option<Child>) -> Option<Child> {
        std::mem::replace(&mut *self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner), child)
    }

    /// Sends SIGKILL and reaps the process.
    pub async fn kill(&self) {
        if let Some(mut child) = self.set_child(None) {
            let _ = child.kill().await;
        }
    }
}

/// Waits until `url`'s `/health` answers 200 (or the process exits, or
/// `timeout` passes).
pub async fn wait_ready(http: &reqwest::Client, node: &Node, timeout: Duration) -> Result<(), LoadError> {
    let deadline = Instant::now() + timeout;
    let health = format!("{}/health", node.url);
    while Instant::now() < deadline {
        if let Ok(resp) = http.get(&health).send().await {
            if resp.status().is_success() {
                return Ok(());
            }
        }
        let exited = {
            let mut guard = node.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.as_mut().and_then(|c| c.try_wait().ok().flatten())
        };
        if let Some(status) = exited {
            return Err(LoadError(format!(
                "mkoba serve (node {}) exited with {status}; see mkoba-serve-{}.log",
                node.index, node.index
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(LoadError(format!("mkoba serve (node {}) did not answer /health in {timeout:?}", node.index)))
}
