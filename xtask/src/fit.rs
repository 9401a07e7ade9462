//! The fit estimate against what a model really takes: the estimate the app
//! shows (`hearth list --json` on the file imported in place into a throwaway
//! library) beside the peak resident memory (`VmHWM`) of a chat that fills
//! the context: `hearth run` answering a prompt a few tokens shorter than the
//! window ([`chat_peak`]). A scoring run (`hearth perplexity`) peaks higher
//! than any chat: it keeps the logits of every scored position (vocabulary ×
//! half the window × 4 bytes), which a chat, scoring one position at a time,
//! never holds.
//!
//! The peak is read from `/proc/PID/status` while the process runs (it only
//! ever grows; the last reading before the exit is the peak, give or take the
//! last few milliseconds, in which a scoring run only prints). Linux only.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How often the child's `VmHWM` is read.
const POLL: Duration = Duration::from_millis(10);

/// What the app's estimate says the model needs at a context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Estimate {
    pub(crate) total: u64,
    pub(crate) weights: u64,
    pub(crate) kv_cache: u64,
    pub(crate) overhead: u64,
}

/// `hearth list --json --ctx CTX` after `hearth import MODEL` (in place), in
/// a library of its own under `home`.
pub(crate) fn estimate(hearth: &Path, model: &Path, ctx: usize, home: &Path) -> Result<Estimate> {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home)?;
    let run = |args: &[&std::ffi::OsStr]| -> Result<Vec<u8>> {
        let out = Command::new(hearth)
            .args(args)
            .env("HEARTH_HOME", home)
            .env("HEARTH_OFFLINE", "1")
            .output()
            .context("cannot run hearth")?;
        if !out.status.success() {
            bail!(
                "hearth {:?} failed: {}",
                args,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    };
    run(&["import".as_ref(), model.as_os_str()])?;
    let ctx = ctx.to_string();
    let list: serde_json::Value = serde_json::from_slice(&run(&[
        "list".as_ref(),
        "--json".as_ref(),
        "--ctx".as_ref(),
        ctx.as_ref(),
    ])?)
    .context("hearth list printed no JSON")?;
    let _ = std::fs::remove_dir_all(home);
    let fit = &list["models"][0]["fit"];
    let field = |key: &str| {
        fit[key]
            .as_u64()
            .with_context(|| format!("hearth list's fit has no {key}"))
    };
    Ok(Estimate {
        total: field("total")?,
        weights: field("weights")?,
        kv_cache: field("kv_cache")?,
        overhead: field("overhead")?,
    })
}

/// Tokens of room a chat prompt leaves in the window (the template's own
/// tokens and a few generated ones).
const CHAT_ROOM: usize = 24;

/// The peak resident memory of `hearth run` on `model` with a window of
/// `ctx` tokens, answering (4 tokens, greedy) a prompt cut from `text` to
/// fill it but for [`CHAT_ROOM`] tokens; `kv_args` as `hearth`'s
/// `--kv-type`. The text is cut at about 3 bytes a token, then shortened by
/// what `hearth` says the prompt came to, until it fits.
pub(crate) fn chat_peak(
    hearth: &Path,
    model: &Path,
    ctx: usize,
    text: &str,
    kv_args: &[&str],
    home: &Path,
) -> Result<Option<u64>> {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home)?;
    let mut bytes = (ctx * 3).min(text.len());
    for _ in 0..4 {
        let mut cut = bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let (out, peak) = output_with_peak_rss(
            Command::new(hearth)
                .arg("run")
                .arg("-m")
                .arg(model)
                .args(["--ctx", &ctx.to_string()])
                .args(["--temperature", "0", "--max-tokens", "4"])
                .args(kv_args)
                .arg(&text[..cut])
                .env("HEARTH_HOME", home)
                .env("HEARTH_OFFLINE", "1"),
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = ctx.saturating_sub(CHAT_ROOM) as f64;
        if out.status.success() {
            // "[prompt 454 tok (0 reused) · …": a prompt well short of the
            // window (a first cut too short) is lengthened while text lasts.
            let tokens = crate::perplexity::find_figure(stderr.as_bytes(), "[prompt ");
            match tokens {
                Some(t) if t < 0.9 * want && cut < text.len() => {
                    bytes = ((cut as f64 * want / t) as usize).min(text.len());
                    continue;
                }
                _ => {
                    let _ = std::fs::remove_dir_all(home);
                    return Ok(peak);
                }
            }
        }
        // "the prompt is 523 tokens but the context window is 512"
        let Some(tokens) = crate::perplexity::find_figure(stderr.as_bytes(), "the prompt is ")
        else {
            bail!("hearth run failed on {}: {stderr}", model.display());
        };
        bytes = (cut as f64 * want / tokens) as usize;
    }
    bail!(
        "no prompt cut from the text fits a window of {ctx} on {}",
        model.display()
    )
}

/// Runs `cmd` to the end like `Command::output`, and its peak resident
/// memory in bytes (`None` where `/proc` cannot tell).
pub(crate) fn output_with_peak_rss(cmd: &mut Command) -> Result<(Output, Option<u64>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak = Some(peak.unwrap_or(0).max(kb * 1024));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(POLL);
    };
    let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok((
        Output {
            status,
            stdout: join(stdout),
            stderr: join(stderr),
        },
        peak,
    ))
}

/// `VmHWM:   123456 kB` from a `/proc/PID/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Bytes as MiB, for the table.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_high_water_mark() {
        let status = "Name:\tcat\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(1234));
        assert_eq!(vm_hwm_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn measures_a_child() {
        let (out, peak) = output_with_peak_rss(Command::new("sh").args(["-c", "echo hi"])).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hi\n");
        // A shell that exits at once may be gone before the first reading.
        assert!(peak.is_none_or(|p| p > 0));
    }
}
