//! A throwaway `redis-server` for one test: a free loopback port, no persistence, killed on
//! drop. Without `redis-server` on the PATH the test is skipped with a clear message, except
//! under `CI=true`, where a missing server fails the run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    extra: Vec<String>,
}

/// Whether `redis-server` can run here; `false` means "skip this test" (already reported).
pub fn available(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: redis-server is not installed, and CI=true requires the Redis tests to run (apt-get install -y redis-server)");
    }
    // Straight to the stderr handle: libtest's capture only intercepts the print macros, so
    // the skip shows in a normal `cargo test` run (libtest has no skip status).
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: redis-server not installed ({test})"
    );
    false
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    /// Starts a server on a free port, or `None` when the test is skipped.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, &[])
    }

    /// Starts a server with extra `redis-server` arguments (`{port}` is replaced by the port).
    pub fn start_with(test: &str, extra: &[&str]) -> Option<Self> {
        if !available(test) {
            return None;
        }
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let extra: Vec<String> = extra
                .iter()
                .map(|a| a.replace("{port}", &port.to_string()))
                .collect();
            match Self::try_start(port, extra) {
                Ok(s) => return Some(s),
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    fn try_start(port: u16, extra: Vec<String>) -> Result<Self, String> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                &std::env::temp_dir().to_string_lossy(),
            ])
            .args(&extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut s = Self {
            child: Some(child),
            port,
            extra,
        };
        if s.wait_ready() {
            Ok(s)
        } else {
            s.kill();
            Err(format!("redis-server on port {port} did not answer PING"))
        }
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return false; // exited: port taken
                }
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match Self::try_start(self.port, self.extra.clone()) {
                Ok(mut s) => {
                    self.child = s.child.take();
                    return;
                }
                Err(e) if Instant::now() > deadline => panic!("restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl RedisServer {
    /// One command over raw RESP; the first reply line (bulk strings: their value).
    #[allow(dead_code)]
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::BufRead;
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("write");
        let mut r = std::io::BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).expect("read");
        if line.starts_with('$') && !line.starts_with("$-1") {
            line.clear();
            r.read_line(&mut line).expect("read");
        }
        line.trim().to_owned()
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
