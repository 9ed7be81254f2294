//! The repository on S3-compatible object storage: [`S3Objects`] is a
//! [`backup_core::ObjectStore`] over the `object_store` crate's S3 client (AWS S3, Garage,
//! Ceph RGW, MinIO, R2 and the others that speak the protocol).
//!
//! - Every put is a create (`If-None-Match: *`); a store that does not make that atomic
//!   (docs/offhost.md) is still safe here, because every key but a lease is either named
//!   by its content's hash or reserved under the repository's lease first.
//! - Objects above [`MULTIPART_ABOVE`] go up as multipart uploads: nothing of an upload is
//!   visible until its completion, so a killed run leaves no partial object (at most an
//!   unfinished upload, which a bucket lifecycle rule removes).
//! - Requests are retried with exponential backoff by the client; what fails after that is
//!   reported with the object's address.
//! - Credentials come from the environment or the standard AWS files only, and are never
//!   part of a message: every error text is scrubbed of them.
//!
//! The client is asynchronous; this store runs it on a small runtime of its own and offers
//! the blocking interface the rest of the tool uses. Reads stream: a `get` holds one
//! response body chunk at a time.

mod credentials;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backup_core::{Error, ObjectStore, RangedObject, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore as _, ObjectStoreExt as _,
    PutMode, PutOptions, PutPayload, RetryConfig,
};

pub use credentials::Credentials;

/// Objects larger than this go up in parts of this size.
pub const MULTIPART_ABOVE: usize = 8 << 20;

/// Where a repository is: `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no leading or trailing `/`; may be empty).
    pub prefix: String,
}

impl Address {
    /// Whether `text` names object storage rather than a local folder.
    pub fn is_remote(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// Parse `s3://bucket[/prefix]`.
    ///
    /// # Errors
    /// [`Error::BadPath`] when it is not such an address.
    pub fn parse(text: &str) -> Result<Address> {
        let bad = |problem: &str| Error::BadPath {
            path: PathBuf::from(text),
            problem: problem.to_owned(),
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| bad("is not an s3://bucket/prefix address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "names no valid bucket (3 to 63 lower-case letters, digits, '-' or '.')",
            ));
        }
        let prefix_ok = prefix.split('/').all(|p| {
            !p.is_empty() && p != "." && p != ".." && p.bytes().all(|b| b.is_ascii_graphic())
        }) || prefix.is_empty();
        if !prefix_ok {
            return Err(bad(
                "has a prefix that is not plain path segments (printable ASCII, no empty, `.` or `..` segments)",
            ));
        }
        Ok(Address {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// How to reach the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// The endpoint URL for a store other than AWS (`http://127.0.0.1:9000`); None: AWS.
    pub endpoint: Option<String>,
    /// The region; None: from the environment or the AWS config file, else `us-east-1`.
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key` (what most
    /// stores other than AWS need).
    pub path_style: bool,
    /// How many times a failed request is tried again.
    pub retries: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// Credentials to use instead of looking for them (for embedding; the tool always
    /// looks: environment, then the AWS files).
    pub credentials: Option<Credentials>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            endpoint: None,
            region: None,
            path_style: false,
            retries: 10,
            timeout: Duration::from_secs(120),
            credentials: None,
        }
    }
}

/// A repository's objects in a bucket.
pub struct S3Objects {
    store: Arc<AmazonS3>,
    rt: Arc<tokio::runtime::Runtime>,
    prefix: String,
    location: PathBuf,
    /// Texts no message may show.
    secrets: Arc<Vec<String>>,
    /// Ranges read recently, shared by every reader of this store.
    recent: Arc<Recent>,
}

/// Bytes of ranges kept for other readers: objects are written once and never changed, so
/// what one reader fetched serves the next (the files of one snapshot share packs).
const RECENT_BYTES: usize = 4 << 20;

/// A range read: (object key, start, bytes, the object's size).
type Kept = (String, u64, Arc<Vec<u8>>, u64);

/// Ranges read recently, oldest first.
#[derive(Default)]
struct Recent(std::sync::Mutex<std::collections::VecDeque<Kept>>);

impl Recent {
    fn find(&self, key: &str, offset: u64, end: u64) -> Option<(Arc<Vec<u8>>, u64, u64)> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.iter()
            .rev()
            .find(|(k, s, b, size)| {
                k == key && offset >= *s && end.min(*size) <= s + b.len() as u64
            })
            .map(|(_, s, b, size)| (Arc::clone(b), *s, *size))
    }

    fn keep(&self, key: &str, start: u64, bytes: Arc<Vec<u8>>, size: u64) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.push_back((key.to_owned(), start, bytes, size));
        let mut total: usize = g.iter().map(|e| e.2.len()).sum();
        while total > RECENT_BYTES {
            match g.pop_front() {
                Some(e) => total -= e.2.len(),
                None => break,
            }
        }
    }
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Objects")
            .field("location", &self.location)
            .finish()
    }
}

impl S3Objects {
    /// Connect to the repository at `address` (no request is made yet).
    ///
    /// # Errors
    /// [`Error::BadPath`] when no credentials are found or the options are not usable.
    pub fn connect(address: &Address, options: &Options) -> Result<S3Objects> {
        let location = PathBuf::from(address.to_string());
        let creds = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => Credentials::find()?,
        };
        let Some(creds) = creds else {
            return Err(Error::BadPath {
                path: location,
                problem: "no credentials for object storage: set AWS_ACCESS_KEY_ID and \
                          AWS_SECRET_ACCESS_KEY, or name a profile of ~/.aws/credentials with \
                          AWS_PROFILE"
                    .into(),
            });
        };
        let region = options
            .region
            .clone()
            .or_else(|| creds.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = options.endpoint.clone().or_else(|| creds.endpoint.clone());
        let mut client = ClientOptions::new()
            .with_timeout(options.timeout)
            .with_connect_timeout(Duration::from_secs(10));
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&address.bucket)
            .with_region(region)
            .with_access_key_id(&creds.access_key_id)
            .with_secret_access_key(&creds.secret_access_key)
            .with_checksum_algorithm(Checksum::SHA256)
            .with_virtual_hosted_style_request(!options.path_style)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: options.retries,
                retry_timeout: Duration::from_secs(180),
            });
        if let Some(t) = &creds.session_token {
            b = b.with_token(t);
        }
        if let Some(e) = &endpoint {
            if e.starts_with("http://") {
                client = client.with_allow_http(true);
            }
            b = b.with_endpoint(e);
        }
        let store = b
            .with_client_options(client)
            .build()
            .map_err(|e| Error::BadPath {
                path: location.clone(),
                problem: format!(
                    "cannot be used: {}",
                    scrub(&e.to_string(), &creds.secrets())
                ),
            })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("atocore-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::io("start the object storage client for", &location, e))?;
        Ok(S3Objects {
            store: Arc::new(store),
            rt: Arc::new(rt),
            prefix: address.prefix.clone(),
            location,
            secrets: Arc::new(creds.secrets()),
            recent: Arc::default(),
        })
    }

    fn key(&self, key: &str) -> Result<Key> {
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Key::parse(&full).map_err(|_| Error::BadPath {
            path: self.describe(key),
            problem: "is not an object key this store takes".into(),
        })
    }

    fn err(&self, op: &'static str, key: &str, e: &object_store::Error) -> Error {
        err(op, self.describe(key), e, &self.secrets)
    }
}

fn err(op: &'static str, path: PathBuf, e: &object_store::Error, secrets: &[String]) -> Error {
    use std::io::ErrorKind as K;
    let kind = match e {
        object_store::Error::NotFound { .. } => K::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            K::AlreadyExists
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => K::PermissionDenied,
        _ => K::Other,
    };
    let text = match kind {
        K::NotFound => "no such object".to_owned(),
        K::AlreadyExists => "the object exists already".to_owned(),
        _ => scrub(&e.to_string(), secrets),
    };
    Error::io(op, path, std::io::Error::new(kind, text))
}

/// `text` with every secret in it replaced.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

/// Read into `buf` until it holds `want` bytes: fewer only at the end. The buffer grows as
/// data arrives (a small object does not cost a part's worth of memory), doubling but never
/// past `want` (a part of 8 MiB never holds 16).
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<()> {
    let mut chunk = vec![0u8; 256 << 10];
    while buf.len() < want {
        let n = match r.read(&mut chunk[..(want - buf.len()).min(256 << 10)]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.capacity() - buf.len() < n {
            let target = (buf.capacity() * 2).max(buf.len() + n).min(want);
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

impl ObjectStore for S3Objects {
    fn location(&self) -> &Path {
        &self.location
    }

    fn changeable_by_others(&self, key: &str) -> Option<(PathBuf, String)> {
        // In the clear, whoever holds the bucket's credentials can plant a manifest; a
        // sealed repository answers for itself (`Sealed`).
        Some((
            self.describe(key),
            "is on object storage, in the clear: anyone with write access to the bucket can \
             change it"
                .into(),
        ))
    }

    fn describe(&self, key: &str) -> PathBuf {
        self.location.join(key)
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn put(&self, key: &str, from: &mut dyn Read) -> Result<()> {
        let k = self.key(key)?;
        let what = || self.describe(key);
        let mut first = Vec::new();
        fill(from, &mut first, MULTIPART_ABOVE + 1).map_err(|e| Error::io("read", what(), e))?;
        if first.len() <= MULTIPART_ABOVE {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return self
                .rt
                .block_on(self.store.put_opts(&k, PutPayload::from(first), opts))
                .map(|_| ())
                .map_err(|e| self.err("upload", key, &e));
        }
        // A large object: in parts, visible only once completed. A create cannot be made
        // conditional here on every store: look first (the keys that get here are packs,
        // named by their content's hash, so a race writes the same bytes).
        match self.rt.block_on(self.store.head(&k)) {
            Ok(_) => {
                return Err(Error::io(
                    "upload",
                    what(),
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "the object exists already",
                    ),
                ))
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.err("look up", key, &e)),
        }
        let mut upload = self
            .rt
            .block_on(self.store.put_multipart(&k))
            .map_err(|e| self.err("start uploading", key, &e))?;
        let mut part = first;
        let result = (|| -> Result<()> {
            loop {
                let tail = part.split_off(part.len().min(MULTIPART_ABOVE));
                let payload = PutPayload::from(std::mem::replace(&mut part, tail));
                self.rt
                    .block_on(upload.put_part(payload))
                    .map_err(|e| self.err("upload a part of", key, &e))?;
                // One part's buffer at a time: the one just sent is freed, and the next
                // is read after what was left over.
                if part.len() < MULTIPART_ABOVE {
                    part.reserve_exact(MULTIPART_ABOVE - part.len());
                    fill(from, &mut part, MULTIPART_ABOVE)
                        .map_err(|e| Error::io("read", what(), e))?;
                    if part.is_empty() {
                        break;
                    }
                }
                backup_core::interrupt::check()?;
            }
            backup_core::failpoint("s3.before-complete");
            self.rt
                .block_on(upload.complete())
                .map(|_| ())
                .map_err(|e| self.err("finish uploading", key, &e))
        })();
        if result.is_err() {
            let _ = self.rt.block_on(upload.abort());
        }
        result
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read>> {
        let k = self.key(key)?;
        let got = self
            .rt
            .block_on(self.store.get(&k))
            .map_err(|e| self.err("download", key, &e))?;
        Ok(Box::new(Body {
            stream: got.into_stream(),
            rt: Arc::clone(&self.rt),
            chunk: Bytes::new(),
            path: self.describe(key),
            secrets: Arc::clone(&self.secrets),
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .list_sizes(prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        // Listing goes by whole path segments: list the folder the prefix is in and keep
        // the keys that start with it.
        let (folder, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let base = if self.prefix.is_empty() {
            folder.to_owned()
        } else if folder.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/{folder}", self.prefix)
        };
        let at = if base.is_empty() {
            None
        } else {
            Some(Key::parse(&base).map_err(|_| Error::BadPath {
                path: self.describe(prefix),
                problem: "is not a prefix this store takes".into(),
            })?)
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut keys = Vec::new();
        let mut s = self.store.list(at.as_ref());
        while let Some(meta) = self.rt.block_on(s.next()) {
            let meta = meta.map_err(|e| self.err("list", prefix, &e))?;
            let full = meta.location.to_string();
            if let Some(k) = full.strip_prefix(&strip) {
                if k.starts_with(prefix) {
                    keys.push((k.to_owned(), meta.size));
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let k = self.key(key)?;
        match self.rt.block_on(self.store.delete(&k)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, &e)),
        }
    }

    fn size(&self, key: &str) -> Result<u64> {
        let k = self.key(key)?;
        self.rt
            .block_on(self.store.head(&k))
            .map(|m| m.size)
            .map_err(|e| self.err("look up", key, &e))
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        Ranged::new(self, key, None)?.fetch(offset, len)
    }

    fn open_ranged(&self, key: &str) -> Result<Option<Box<dyn RangedObject>>> {
        Ok(Some(Box::new(Ranged::new(self, key, None)?)))
    }

    fn get_tail(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        let size = self.size(key)?;
        let from = size.saturating_sub(len as u64);
        self.get_range(
            key,
            from,
            usize::try_from(size - from).unwrap_or(usize::MAX),
        )
    }
}

/// A response body read as a stream.
struct Body {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    rt: Arc<tokio::runtime::Runtime>,
    chunk: Bytes,
    path: PathBuf,
    secrets: Arc<Vec<String>>,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!(
                        "{}: {}",
                        self.path.display(),
                        scrub(&e.to_string(), &self.secrets)
                    )))
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Ranges read ahead at most, for reads that go through an object in order.
pub const READ_AHEAD_MAX: usize = 1 << 20;
/// What the first read of an opened object reads ahead: a pack's header and its first
/// frames come in one request (a GET costs tens of milliseconds on most stores).
pub const FIRST_READ_AHEAD: usize = 1 << 20;
/// A read that starts this far past the end of the previous one still counts as in order
/// (a sealed object's segments overlap frame boundaries).
const IN_ORDER_SLACK: u64 = 128 << 10;

/// An object read by ranges. Reads that go through it in order are served from a window
/// read ahead: [`FIRST_READ_AHEAD`] at the first read, then [`READ_AHEAD_MAX`] while reads
/// go in order (256 KiB, doubling, when that is larger), and none after a read out of order. A restore reading
/// a pack's frames one after another makes a few large requests rather than one per frame,
/// and scattered reads fetch little more than they need. The object's size comes with the
/// first answer (no HEAD request).
struct Ranged {
    store: Arc<AmazonS3>,
    rt: Arc<tokio::runtime::Runtime>,
    key: Key,
    path: PathBuf,
    size: Option<u64>,
    secrets: Arc<Vec<String>>,
    window: (u64, Arc<Vec<u8>>),
    ahead: usize,
    last_end: Option<u64>,
    name: String,
    recent: Arc<Recent>,
}

impl Ranged {
    fn new(s: &S3Objects, key: &str, size: Option<u64>) -> Result<Ranged> {
        Ok(Ranged {
            store: Arc::clone(&s.store),
            rt: Arc::clone(&s.rt),
            key: s.key(key)?,
            path: s.describe(key),
            size,
            secrets: Arc::clone(&s.secrets),
            window: (0, Arc::new(Vec::new())),
            ahead: FIRST_READ_AHEAD / 2,
            last_end: None,
            name: key.to_owned(),
            recent: Arc::clone(&s.recent),
        })
    }
}

impl RangedObject for Ranged {
    fn read_range(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let in_order = self
            .last_end
            .is_none_or(|e| offset + IN_ORDER_SLACK >= e && offset <= e + IN_ORDER_SLACK);
        self.ahead = if in_order {
            (self.ahead * 2).clamp(256 << 10, READ_AHEAD_MAX)
        } else {
            0
        };
        let want_end = offset.saturating_add(len as u64);
        self.last_end = Some(want_end);
        let within = |start: u64, w: &[u8], size: Option<u64>| {
            let end = size.map_or(want_end, |s| want_end.min(s));
            offset >= start && end <= start + w.len() as u64
        };
        if !within(self.window.0, &self.window.1, self.size) {
            if let Some((b, start, size)) = self.recent.find(&self.name, offset, want_end) {
                self.size = Some(size);
                self.window = (start, b);
            } else {
                let got = Arc::new(self.fetch(offset, len.saturating_add(self.ahead))?);
                if let Some(size) = self.size {
                    self.recent.keep(&self.name, offset, Arc::clone(&got), size);
                }
                self.window = (offset, got);
            }
        }
        let (start, w) = &self.window;
        let from = usize::try_from(offset.saturating_sub(*start)).unwrap_or(usize::MAX);
        if from >= w.len() {
            return Ok(Vec::new());
        }
        Ok(w[from..w.len().min(from + len)].to_vec())
    }
}

impl Ranged {
    fn fetch(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if self.size.is_some_and(|s| offset >= s) || len == 0 {
            return Ok(Vec::new());
        }
        backup_core::failpoint("s3.ranged-read");
        let opts = GetOptions {
            range: Some(GetRange::Bounded(offset..offset.saturating_add(len as u64))),
            ..GetOptions::default()
        };
        let got = self.rt.block_on(async {
            let r = self.store.get_opts(&self.key, opts).await?;
            let size = r.meta.size;
            r.bytes().await.map(|b| (size, b))
        });
        match got {
            Ok((size, bytes)) => {
                self.size = Some(size);
                Ok(bytes.to_vec())
            }
            Err(e) if self.size.is_none() && !matches!(e, object_store::Error::NotFound { .. }) => {
                // Perhaps a start past the end of an object of unknown size: learn its size,
                // then ask again (or give nothing).
                let size = self
                    .rt
                    .block_on(self.store.head(&self.key))
                    .map_err(|e| err("look up", self.path.clone(), &e, &self.secrets))?
                    .size;
                self.size = Some(size);
                if offset >= size {
                    return Ok(Vec::new());
                }
                Err(err("download", self.path.clone(), &e, &self.secrets))
            }
            Err(e) => Err(err("download", self.path.clone(), &e, &self.secrets)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_parsed_and_bad_ones_named() {
        let a = Address::parse("s3://my-bucket/some/prefix/").unwrap();
        assert_eq!(a.bucket, "my-bucket");
        assert_eq!(a.prefix, "some/prefix");
        assert_eq!(a.to_string(), "s3://my-bucket/some/prefix");
        assert_eq!(Address::parse("s3://bkt").unwrap().prefix, "");
        for bad in [
            "s3://",
            "s3://B",
            "s3://ab",
            "/local/dir",
            "s3://bucket/a//b",
            "s3://bucket/../x",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let s = vec!["AKIDEXAMPLE".to_owned(), "wJalrXUtnFEMI/K7MDENG".to_owned()];
        let t = scrub("denied for AKIDEXAMPLE with wJalrXUtnFEMI/K7MDENG", &s);
        assert!(!t.contains("AKIDEXAMPLE") && !t.contains("wJalr"), "{t}");
    }
}
