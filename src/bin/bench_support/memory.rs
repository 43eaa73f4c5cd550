//! A process's resident memory, for the benchmark programs (bench-ingest, bench-delivery,
//! bench-bombs), each of which includes this file with `#[path]`.

/// Peak and current resident set size of a process, in MiB, from /proc (Linux only).
pub fn rss_mib(pid: u32) -> Result<(f64, f64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> Result<f64, String> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or(format!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}
