//! The files a configuration reads besides itself: `scrape_config_files` (more jobs, each
//! file's relative names taken from its own directory), the jobs as written (for
//! `/api/v1/scrape_pools/config`), and the checksum over every file a reload would read.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::JobSection;

/// A file named by `scrape_config_files`: only `scrape_configs`, as in Prometheus.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobsFile {
    scrape_configs: Vec<JobSection>,
}

/// The jobs of a file as written, for `/api/v1/scrape_pools/config` (`shown_config`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WrittenJobs {
    scrape_configs: Vec<serde_json::Value>,
}

/// `text`'s jobs as written (none when it is empty; read after the typed parse succeeded).
/// Only `true`/`false` read as booleans: a string such as `y` in `params` stays a string,
/// as the typed parse reads it.
pub(super) fn written_jobs(text: &str) -> Vec<serde_json::Value> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let options = serde_saphyr::Options { strict_booleans: true, ..serde_saphyr::Options::default() };
    serde_saphyr::from_str_with_options::<WrittenJobs>(text, options).map(|w| w.scrape_configs).unwrap_or_default()
}

/// Only the file list of a configuration, for `files_checksum`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListedFiles {
    scrape_config_files: Vec<String>,
    rule_files: Vec<String>,
}

/// A SHA-256 over the configuration file and every file its `scrape_config_files` and
/// `rule_files` name now, each named and ended as Prometheus' `config.GenerateChecksum` writes
/// them (`s` or `r`, NUL, the path, NUL, the content, NUL): what `scrape.config_check_interval_seconds` compares to
/// tell that a reload would read something else.
pub fn files_checksum(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(&text);
    let listed: ListedFiles = match std::str::from_utf8(&text) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?,
        Ok(_) => ListedFiles::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for pattern in &listed.scrape_config_files {
        let pattern = base.join(pattern);
        for file in crate::scrape::discovery::expand(std::slice::from_ref(&pattern)).into_iter().filter(|f| f.exists()) {
            let content = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            hash.update(format!("s\0{}\0", file.display()).as_bytes());
            hash.update(&content);
            hash.update(b"\0");
        }
    }
    for file in crate::rules::settings::rule_file_paths(&listed.rule_files, base)? {
        let content = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        hash.update(format!("r\0{}\0", file.display()).as_bytes());
        hash.update(&content);
        hash.update(b"\0");
    }
    let mut sum = [0u8; 32];
    sum.copy_from_slice(hash.finish().as_ref());
    Ok(sum)
}

/// The jobs of every file `scrape_config_files` names now (relative names from `base`),
/// each with where it came from (for errors) and its file's directory (relative names in a
/// job are taken from there, as Prometheus takes them).
pub(super) fn jobs_from_files(patterns: &[String], base: &Path) -> Result<Vec<(String, PathBuf, JobSection, serde_json::Value)>, String> {
    let mut jobs = Vec::new();
    for pattern in patterns {
        let path = base.join(pattern);
        if path.parent().is_some_and(|p| p.to_string_lossy().contains('*')) {
            return Err(format!("scrape_config_files: {pattern:?}: only the last path element may hold *"));
        }
        // As Go's Glob: a name without `*` that does not exist matches no file (a tool may
        // write it later; a reload reads it then).
        for file in crate::scrape::discovery::expand(std::slice::from_ref(&path)).into_iter().filter(|f| pattern.contains('*') || f.exists()) {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("scrape_config_files: cannot read {}: {e}", file.display()))?;
            let parsed: JobsFile = if text.trim().is_empty() { JobsFile::default() } else { serde_saphyr::from_str(&text).map_err(|e| format!("scrape_config_files: {}: {e}", file.display()))? };
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| base.to_path_buf());
            let mut written = written_jobs(&text).into_iter();
            for (i, job) in parsed.scrape_configs.into_iter().enumerate() {
                jobs.push((format!("{} scrape_configs[{i}]", file.display()), dir.clone(), job, written.next().unwrap_or_default()));
            }
        }
    }
    Ok(jobs)
}
