//! A profile's `credential_process`, run as AWS' Go SDK runs it on Unix (`sh -c <command>`,
//! killed after a minute) on glommio's blocking pool, so the executor thread never waits on
//! the child; its stdout is the JSON document of version 1 that holds the keys.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Found, Keys};

/// How long the command may run before it is killed (the SDK's `processcreds.DefaultTimeout`).
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The most of stdout that is read as the document (keys are a few hundred bytes).
const STDOUT_BYTES_MAX: usize = 1 << 20;
/// How much of the end of stderr an error quotes.
const STDERR_TAIL_BYTES_MAX: usize = 1024;
/// How often a running command is checked for its exit (on a blocking-pool thread).
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How long the pipes are read once the group is killed (or the command exited), for what
/// was written before: a process that left the group may hold them open for ever.
const PIPE_DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

/// Runs `command` and reads the keys it prints; `timeout` is [`TIMEOUT`] outside tests.
pub async fn keys(command: &str, timeout: Duration) -> Result<Found, String> {
    let owned = command.to_string();
    let stdout = glommio::executor().spawn_blocking(move || run(&owned, timeout)).await?;
    parse(&stdout)
}

/// What a finished (or killed) run left.
struct Finished {
    status: std::io::Result<std::process::ExitStatus>,
    timed_out: bool,
    stdout: Vec<u8>,
    stdout_too_long: bool,
    stderr_tail: String,
}

/// Runs `command` in a process group of its own (so a timeout kills what the shell started
/// too) and returns its stdout, or why it failed. Blocks: call it off the executor.
fn run(command: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let finished = run_to_end(command, timeout)?;
    let stderr = if finished.stderr_tail.is_empty() { String::new() } else { format!("; stderr: {}", finished.stderr_tail) };
    if finished.timed_out {
        return Err(format!("credential process timed out after {timeout:?} and was killed{stderr}"));
    }
    match finished.status {
        Err(e) => Err(format!("error in credential_process: cannot wait for it: {e}{stderr}")),
        Ok(status) if !status.success() => Err(format!("error in credential_process: {status}{stderr}")),
        Ok(_) if finished.stdout_too_long => Err(format!("credential process printed more than {STDOUT_BYTES_MAX} bytes")),
        Ok(_) => Ok(finished.stdout),
    }
}

fn run_to_end(command: &str, timeout: Duration) -> Result<Finished, String> {
    use std::os::unix::process::CommandExt;
    let deadline = Instant::now() + timeout;
    // As the SDK: the process's environment; stdin is not the server's (nobody answers a
    // prompt there), so a command that asks for input reads end of file.
    let mut child = Command::new("sh").arg("-c").arg(command).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn().map_err(|e| format!("error in credential_process: cannot start sh: {e}"))?;
    let group = i32::try_from(child.id()).map_err(|_| "error in credential_process: process id out of range".to_string())?;
    let (stdout_tx, stdout_rx) = mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || stdout_tx.send(stdout.map(read_capped).unwrap_or_default()));
    let (stderr_tx, stderr_rx) = mpsc::channel();
    let stderr = child.stderr.take();
    std::thread::spawn(move || stderr_tx.send(stderr.map(read_tail).unwrap_or_default()));
    let mut timed_out = false;
    // Polled rather than waited on, so the group is killed while its leader is not yet
    // reaped: its id cannot have been given to another process.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(group);
                timed_out = true;
                break child.wait();
            }
            Ok(None) => std::thread::sleep(EXIT_POLL_INTERVAL),
            Err(e) => break Err(e),
        }
    };
    // What the shell left running may still hold stdout: it gets what is left of the time.
    let (stdout, stdout_too_long) = match stdout_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(read) => read,
        Err(_) => {
            kill_group(group);
            timed_out = true;
            stdout_rx.recv_timeout(PIPE_DRAIN_AFTER_KILL).unwrap_or_default()
        }
    };
    let stderr_tail = stderr_rx.recv_timeout(PIPE_DRAIN_AFTER_KILL).unwrap_or_default();
    Ok(Finished { status, timed_out, stdout, stdout_too_long, stderr_tail })
}

/// SIGKILL to the process group `group` that the command's shell leads.
fn kill_group(group: i32) {
    // SAFETY: kill(2) takes no pointers; a negative pid names the process group.
    unsafe { libc::kill(-group, libc::SIGKILL) };
}

/// Up to [`STDOUT_BYTES_MAX`] bytes of `pipe`, and whether there was more (read to the end
/// anyway, so the process is not blocked writing).
fn read_capped(pipe: impl Read) -> (Vec<u8>, bool) {
    let mut pipe = pipe;
    let mut kept = Vec::new();
    let _ = pipe.by_ref().take(STDOUT_BYTES_MAX as u64).read_to_end(&mut kept);
    let more = std::io::copy(&mut pipe, &mut std::io::sink()).unwrap_or(0);
    (kept, more > 0)
}

/// The last [`STDERR_TAIL_BYTES_MAX`] bytes of `pipe`, read to its end, as trimmed text.
fn read_tail(mut pipe: impl Read) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buffer[..n]);
                if tail.len() > STDERR_TAIL_BYTES_MAX {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES_MAX);
                }
            }
        }
    }
    String::from_utf8_lossy(&tail).trim().to_string()
}

/// The keys in the process's output, checked in the SDK's order: JSON, `Version` 1,
/// `AccessKeyId`, `SecretAccessKey`. Field names match in any case, as Go's JSON reads them.
/// The output itself is never quoted, as it holds secrets.
fn parse(stdout: &[u8]) -> Result<Found, String> {
    let document: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| format!("parse failed of process output: {e}"))?;
    let empty = serde_json::Map::new();
    let object = match &document {
        serde_json::Value::Object(object) => object,
        serde_json::Value::Null => &empty,
        _ => return Err("parse failed of process output: not a JSON object".into()),
    };
    let version = match field(object, "Version") {
        None => 0,
        Some(value) => value.as_i64().ok_or("parse failed of process output: Version is not an integer")?,
    };
    if version != 1 {
        return Err("wrong version in process output (not 1)".into());
    }
    let text = |name: &str| -> Result<String, String> {
        match field(object, name) {
            None => Ok(String::new()),
            Some(value) => value.as_str().map(str::to_string).ok_or_else(|| format!("parse failed of process output: {name} is not a string")),
        }
    };
    let (access_key_id, secret_access_key, session_token) = (text("AccessKeyId")?, text("SecretAccessKey")?, text("SessionToken")?);
    if access_key_id.is_empty() {
        return Err("missing AccessKeyId in process output".into());
    }
    if secret_access_key.is_empty() {
        return Err("missing SecretAccessKey in process output".into());
    }
    let expires_ms = match field(object, "Expiration") {
        None => None,
        Some(value) => {
            let at = value.as_str().ok_or("parse failed of process output: Expiration is not a string")?;
            Some(super::rfc3339_ms(at).map_err(|e| format!("parse failed of process output: Expiration: {e}"))?)
        }
    };
    Ok(Found { keys: Keys { access_key_id, secret_access_key, session_token: Some(session_token).filter(|t| !t.is_empty()) }, expires_ms })
}

/// `name`'s value (not null): the exact key, else one equal to it in any case.
fn field<'a>(object: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> Option<&'a serde_json::Value> {
    object.get(name).or_else(|| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)).filter(|value| !value.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::run as run_on_executor;

    /// Writes `script` as an executable file in `dir` and returns the command that runs it.
    fn script(dir: &std::path::Path, name: &str, script: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}")).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        format!("'{}' --flag", path.display())
    }

    #[test]
    fn keys_with_and_without_expiration_are_read_from_stdout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let expiring = script(dir.path(), "expiring", r#"[ "$1" = --flag ] || exit 3; echo '{"Version": 1, "AccessKeyId": "ASIAPROC", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2099-01-01T00:00:00Z"}'"#);
        let found = run_on_executor(keys(&expiring, TIMEOUT)).expect("keys");
        assert_eq!(found.keys, Keys { access_key_id: "ASIAPROC".into(), secret_access_key: "s".into(), session_token: Some("t".into()) });
        assert_eq!(found.expires_ms, Some(4_070_908_800_000));
        let lasting = script(dir.path(), "lasting", r#"printf '{"version":1,"accesskeyid":"AKIAPROC","SecretAccessKey":"s"}'"#);
        let found = run_on_executor(keys(&lasting, TIMEOUT)).expect("keys");
        assert_eq!((found.keys.access_key_id.as_str(), found.keys.session_token.as_deref(), found.expires_ms), ("AKIAPROC", None, None), "names in any case, as Go reads them");
        assert!(found.fresh(i64::MAX), "keys without an Expiration are kept");
    }

    #[test]
    fn a_failing_process_is_an_error_with_its_stderr_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let failing = script(dir.path(), "failing", "echo 'partial {' ; echo 'token expired: run aws-vault login' >&2; exit 2");
        let error = run_on_executor(keys(&failing, TIMEOUT)).expect_err("fails");
        assert!(error.contains("error in credential_process: exit status: 2") && error.ends_with("stderr: token expired: run aws-vault login"), "{error}");
        let long = script(dir.path(), "long", "i=0; while [ $i -lt 300 ]; do echo 'noise noise noise noise' >&2; i=$((i+1)); done; echo 'the last line' >&2; exit 1");
        let error = run_on_executor(keys(&long, TIMEOUT)).expect_err("fails");
        assert!(error.ends_with("the last line") && error.len() < STDERR_TAIL_BYTES_MAX + 100, "only the tail: {} bytes", error.len());
    }

    #[test]
    fn documents_are_checked_in_the_sdk_order() {
        let cases: [(&[u8], &str); 7] = [
            (b"not json", "parse failed of process output"),
            (br#"{"Version": 2, "AccessKeyId": "a", "SecretAccessKey": "s"}"#, "wrong version in process output (not 1)"),
            (br#"{"AccessKeyId": "a", "SecretAccessKey": "s"}"#, "wrong version in process output (not 1)"),
            (br#"{"Version": "1", "AccessKeyId": "a", "SecretAccessKey": "s"}"#, "Version is not an integer"),
            (br#"{"Version": 1, "SecretAccessKey": "s"}"#, "missing AccessKeyId in process output"),
            (br#"{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": ""}"#, "missing SecretAccessKey in process output"),
            (br#"{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "s", "Expiration": "tomorrow"}"#, "Expiration"),
        ];
        for (document, expected) in cases {
            let error = parse(document).expect_err("refused");
            assert!(error.contains(expected), "{}: {error}", String::from_utf8_lossy(document));
            assert!(!error.contains("\"s\""), "the output is not quoted: {error}");
        }
        assert!(parse(br#"{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "s", "Expiration": null, "Extra": 1}"#).is_ok_and(|f| f.expires_ms.is_none()));
    }

    #[test]
    fn a_process_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("background.pid");
        let hanging = script(dir.path(), "hanging", &format!("echo waiting >&2; sleep 30 & echo $! > '{}'; wait", pid_file.display()));
        let started = std::time::Instant::now();
        let error = run_on_executor(keys(&hanging, Duration::from_millis(300))).expect_err("timed out");
        assert!(error.contains("timed out after 300ms and was killed") && error.ends_with("stderr: waiting"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "killed at the timeout, not at the end: {:?}", started.elapsed());
        // The shell's background child was in its group: it is gone once init reaps it.
        let background: i32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = || unsafe { libc::kill(background, 0) } == 0;
        while alive() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(!alive(), "the background child outlived the kill");
    }

    #[test]
    fn the_executor_keeps_running_while_the_process_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slow = script(dir.path(), "slow", r#"sleep 0.5; echo '{"Version":1,"AccessKeyId":"a","SecretAccessKey":"s"}'"#);
        let ticks = run_on_executor(async {
            let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let counter = ticks.clone();
            let ticker = glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    counter.set(counter.get() + 1);
                }
            });
            let found = keys(&slow, TIMEOUT).await;
            drop(ticker);
            assert!(found.is_ok(), "{found:?}");
            ticks.get()
        });
        assert!(ticks >= 10, "the executor thread was blocked: {ticks} ticks in 0.5 s");
    }
}
