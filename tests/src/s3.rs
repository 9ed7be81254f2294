//! A real S3-compatible server for the tests: `s3s-fs` (a crate CI installs with
//! `cargo install s3s-fs --version 0.14.1 --features binary --locked --root target/s3s`),
//! started on a free loopback port with an access key and secret of its own and a temporary
//! root folder, in which every object is a plain file (so tests can damage one).
//!
//! The binary is `$ATOCORE_TEST_S3S_FS`, else `target/s3s/bin/s3s-fs` in the workspace. A
//! test that needs it fails (never skips) when it is missing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use backup_core::conformance::Remote;
use backup_core::ObjectStore;

/// A running server; stopped when dropped.
pub struct Server {
    child: std::sync::Mutex<Option<Child>>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its access key id.
    pub access_key: String,
    /// Its secret: no output of the tool may ever contain it.
    pub secret_key: String,
    /// The folder it keeps buckets in (one folder each).
    pub root: PathBuf,
    port: u16,
    _tmp: tempfile::TempDir,
}

/// The s3s-fs binary.
pub fn binary() -> PathBuf {
    std::env::var_os("ATOCORE_TEST_S3S_FS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/s3s/bin/s3s-fs"))
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("random bytes");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Server {
    /// Start one, with bucket `atocore-test` made.
    pub fn start() -> Server {
        let bin = binary();
        assert!(
            bin.is_file(),
            "{}: s3s-fs is not installed: run `cargo install s3s-fs --version 0.14.1 \
             --features binary --locked --root target/s3s` (scripts/test.sh does)",
            bin.display()
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(root.join("atocore-test")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = Server {
            child: std::sync::Mutex::new(None),
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: format!("test-access-{}", random_hex(6)),
            secret_key: format!("test-secret-{}", random_hex(16)),
            root,
            port,
            _tmp: tmp,
        };
        s.launch();
        s
    }

    /// Start the server process (again): a shell stays beside it and stops it when the
    /// test process goes, however it goes.
    pub fn launch(&self) {
        let script = format!(
            "\"$0\" --host 127.0.0.1 --port {} --access-key \"$1\" --secret-key \"$2\" \"$3\" \
             >>\"${{ATOCORE_TEST_S3S_LOG:-/dev/null}}\" 2>&1 & s=$!; while kill -0 {} 2>/dev/null && kill -0 $s 2>/dev/null; \
             do sleep 0.2; done; kill -9 $s 2>/dev/null",
            self.port,
            std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(binary())
            .arg(&self.access_key)
            .arg(&self.secret_key)
            .arg(&self.root)
            .stdin(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        *self.child.lock().unwrap() = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start listening on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill the server at once (SIGKILL), as a dead remote.
    pub fn kill(&self) {
        let taken = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut c) = taken {
            // The shell's child is the server: kill both.
            let _ = Command::new("pkill")
                .args(["-9", "-P", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The variables that point the tool at repository `prefix` of the test bucket: the
    /// address, endpoint, path-style addressing and the credentials (as operators set them).
    pub fn vars(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("ATOCORE_REPO".into(), format!("s3://atocore-test/{prefix}")),
            ("ATOCORE_S3_ENDPOINT".into(), self.endpoint.clone()),
            ("ATOCORE_S3_PATH_STYLE".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// The file holding object `key` of repository `prefix`.
    pub fn object_file(&self, prefix: &str, key: &str) -> PathBuf {
        self.root.join("atocore-test").join(prefix).join(key)
    }

    /// An object store over repository `prefix` (no encryption).
    pub fn objects(&self, prefix: &str) -> Arc<dyn ObjectStore> {
        let addr = backup_s3::Address::parse(&format!("s3://atocore-test/{prefix}")).unwrap();
        let opts = backup_s3::Options {
            endpoint: Some(self.endpoint.clone()),
            path_style: true,
            retries: 3,
            credentials: Some(backup_s3::Credentials {
                access_key_id: self.access_key.clone(),
                secret_access_key: self.secret_key.clone(),
                session_token: None,
                region: None,
                endpoint: None,
            }),
            ..backup_s3::Options::default()
        };
        Arc::new(backup_s3::S3Objects::connect(&addr, &opts).expect("connect"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Remote for Server {
    fn objects(&self, name: &str) -> Arc<dyn ObjectStore> {
        Server::objects(self, name)
    }
    fn object_file(&self, name: &str, key: &str) -> PathBuf {
        Server::object_file(self, name, key)
    }
}

/// One server for the whole test binary, started on first use; each test keeps its
/// repositories under prefixes of its own.
pub fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

/// The shared server, as [`Storage::Remote`](backup_core::conformance::Storage::Remote)
/// takes it.
pub fn remote() -> &'static dyn Remote {
    shared()
}

/// A prefix no other test of this process uses.
pub fn fresh_prefix(what: &str) -> String {
    format!("{what}-{}", random_hex(6))
}

/// A loopback proxy in front of a [`Server`] that answers some requests itself with
/// `503 Slow Down`, as a throttling S3 service does, and passes the others through unchanged
/// (their signatures stay valid: it adds only an unsigned `Connection: close`). One request
/// per connection, so every request is counted.
pub struct Throttle {
    /// `http://127.0.0.1:PORT`: give it as the endpoint instead of the server's.
    pub endpoint: String,
    state: Arc<ThrottleState>,
}

struct ThrottleState {
    /// Answer every `every`-th request with 503 (0: none, 1: all).
    every: std::sync::atomic::AtomicU64,
    seen: std::sync::atomic::AtomicU64,
    throttled: std::sync::atomic::AtomicU64,
    upstream: u16,
}

impl Throttle {
    /// A proxy to `server` that throttles every `every`-th request (0: none, 1: all).
    pub fn start(server: &Server, every: u64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ThrottleState {
            every: every.into(),
            seen: 0.into(),
            throttled: 0.into(),
            upstream: server.port,
        });
        let s = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    // A connection that breaks is the client's to notice.
                    let _ = s.serve(conn);
                });
            }
        });
        Throttle {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Throttle every `every`-th request from now on (0: none, 1: all).
    pub fn set_every(&self, every: u64) {
        self.state
            .every
            .store(every, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many requests were answered with 503.
    pub fn throttled(&self) -> u64 {
        self.state
            .throttled
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many requests came.
    pub fn seen(&self) -> u64 {
        self.state.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

impl ThrottleState {
    fn serve(&self, mut client: TcpStream) -> std::io::Result<()> {
        use std::io::Write;
        use std::sync::atomic::Ordering::SeqCst;
        let Some(head) = read_head(&mut client)? else {
            return Ok(());
        };
        let (lines, length) = without_connection(&head);
        if lines
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:"))
        {
            // Bodies are read by their length only: say so, loudly, to the test's client.
            eprintln!("throttling proxy: a body without a length: {head}");
            client.write_all(
                b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return client.flush();
        }
        let mut body = vec![0u8; usize::try_from(length).unwrap_or(0)];
        std::io::Read::read_exact(&mut client, &mut body)?;
        let n = self.seen.fetch_add(1, SeqCst) + 1;
        let every = self.every.load(SeqCst);
        if every > 0 && n.is_multiple_of(every) {
            self.throttled.fetch_add(1, SeqCst);
            let head_only = head.starts_with("HEAD ");
            let answer = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                SLOW_DOWN.len(),
                if head_only { "" } else { SLOW_DOWN }
            );
            client.write_all(answer.as_bytes())?;
            return client.flush();
        }
        // Passed through with `Connection: close` both ways, so neither side reuses the
        // connection (the proxy closes it after one answer).
        let mut up = TcpStream::connect(("127.0.0.1", self.upstream))?;
        let mut out = lines.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        out.extend_from_slice(&body);
        up.write_all(&out)?;
        let Some(answer) = read_head(&mut up)? else {
            return Ok(());
        };
        let (lines, _) = without_connection(&answer);
        let mut out = lines.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        client.write_all(&out)?;
        std::io::copy(&mut up, &mut client)?;
        client.flush()
    }
}

/// An HTTP head, read byte by byte up to its blank line (heads are small); `None` when the
/// peer closed first or sent more than 64 KiB.
fn read_head(from: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if std::io::Read::read(from, &mut byte)? == 0 || head.len() > 64 << 10 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// The head's lines without its `Connection` header, and its Content-Length (0 if none).
fn without_connection(head: &str) -> (Vec<&str>, u64) {
    let mut length = 0;
    let mut lines = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            lines.push(line);
        }
    }
    (lines, length)
}
