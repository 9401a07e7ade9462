//! `hearth serve` as a user starts it: it listens, answers, and Ctrl-C stops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use hearth_testkit::models;

use crate::{Home, run_ok};

/// A running `hearth serve`, killed if a failing test leaves it running.
struct Serving(Option<Child>);

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `hearth serve ARGS --port 0` and returns it with the `host:port`
/// from its "Listening on http://..." line.
fn start(home: &Home, args: &[&str]) -> (Serving, String) {
    let mut child = home
        .hearth()
        .arg("serve")
        .args(args)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = Serving(Some(child));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "hearth serve ended: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("Listening on http://") {
            let addr = rest.split([' ', ';']).next().unwrap().to_owned();
            // Keep reading, so the server's last words do not hit a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            return (child, addr);
        }
    }
}

/// A raw HTTP/1.1 GET; returns the whole response.
fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Ctrl-C (SIGINT), then the exit status must be success.
fn interrupt(mut serving: Serving) {
    let mut child = serving.0.take().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        child.wait().unwrap().success(),
        "hearth serve did not stop cleanly"
    );
}

#[test]
fn serve_lists_the_library_and_stops_on_ctrl_c() {
    let home = Home::new();
    run_ok(home.hearth().arg("import").arg(models::smollm2()));
    let (child, addr) = start(&home, &[]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(get(&addr, "/health").starts_with("HTTP/1.1 200"));
    let models = get(&addr, "/v1/models");
    assert!(models.contains("smollm2"), "{models}");
    interrupt(child);
}

#[test]
fn serve_on_all_interfaces_writes_a_private_key_and_requires_it() {
    let home = Home::new();
    let (mut child, addr) = start(&home, &["--host", "0.0.0.0"]);
    let key_file = home.path().join("api-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let port = addr.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    assert!(get(&local, "/v1/models").starts_with("HTTP/1.1 401"));
    let mut stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    interrupt(child);
    let mut printed = String::new();
    stdout.read_to_string(&mut printed).unwrap();
    assert!(!printed.contains(key.trim()), "the key was printed");
}

/// A raw HTTP/1.1 POST of a JSON body; returns the whole response.
fn post(addr: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_keeps_api_conversations_only_when_switched_on_and_remembers_it() {
    let home = Home::new();
    run_ok(home.hearth().arg("import").arg(models::smollm2()));
    let body = r#"{"model": "smollm2", "max_tokens": 2,
        "messages": [{"role": "user", "content": "Say hello to the API"}]}"#;

    let (child, addr) = start(&home, &["--store-conversations", "on"]);
    assert!(post(&addr, "/v1/chat/completions", body).starts_with("HTTP/1.1 200"));
    interrupt(child);
    let (listed, _) = run_ok(home.hearth().args(["history", "list"]));
    assert!(listed.contains("API: Say hello to the API"), "{listed}");

    // Remembered without the flag; switched off, nothing more is stored.
    let (child, addr) = start(&home, &[]);
    assert!(post(&addr, "/v1/chat/completions", body).starts_with("HTTP/1.1 200"));
    interrupt(child);
    let (again, _) = run_ok(home.hearth().args(["history", "list"]));
    assert_eq!(again.matches("API: Say hello").count(), 2, "{again}");
    let (child, addr) = start(&home, &["--store-conversations", "off"]);
    assert!(post(&addr, "/v1/chat/completions", body).starts_with("HTTP/1.1 200"));
    interrupt(child);
    let (after, _) = run_ok(home.hearth().args(["history", "list"]));
    assert_eq!(after.matches("API: Say hello").count(), 2, "{after}");
}

/// Resident memory of a process in KiB (Linux).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 32 clients at once, three times over: each is answered (200) or cleanly
/// refused (503), the server stays up, and its memory after the waves is
/// within a fixed margin of its memory after the first answer (no growth per
/// request: queued requests, logs and answers are all bounded).
#[cfg(target_os = "linux")]
#[test]
fn serve_under_32_concurrent_clients_stays_up_with_bounded_memory() {
    let home = Home::new();
    run_ok(home.hearth().arg("import").arg(models::smollm2()));
    let (child, addr) = start(&home, &["--queue", "4"]);
    let pid = child.0.as_ref().unwrap().id();
    let body = r#"{"model": "smollm2", "max_tokens": 8,
        "messages": [{"role": "user", "content": "Count to five"}]}"#;
    assert!(post(&addr, "/v1/chat/completions", body).starts_with("HTTP/1.1 200"));
    let warm = rss_kib(pid);

    let mut statuses = Vec::new();
    for _wave in 0..3 {
        let clients: Vec<_> = (0..32)
            .map(|_| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let mut stream = TcpStream::connect(&addr).unwrap();
                    stream
                        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
                        .unwrap();
                    write!(
                        stream,
                        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\n\
                         Content-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .unwrap();
                    let mut response = String::new();
                    stream.read_to_string(&mut response).unwrap();
                    response.get(9..12).unwrap_or("").to_owned()
                })
            })
            .collect();
        statuses.extend(clients.into_iter().map(|c| c.join().unwrap()));
    }
    assert!(
        statuses.iter().all(|s| s == "200" || s == "503"),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s == "200"), "{statuses:?}");
    assert!(get(&addr, "/health").starts_with("HTTP/1.1 200"));
    let after = rss_kib(pid);
    assert!(
        after <= warm + 64 * 1024,
        "memory grew from {warm} KiB to {after} KiB over 96 requests"
    );
    interrupt(child);
}
