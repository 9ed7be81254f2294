//! A whole file's SHA-256 computed on a thread of its own, so that it overlaps with the work
//! of the thread that reads the file (decompressing and checking chunks, hashing chunks,
//! writing a copy). Buffers are handed over, not copied, and handed back for reuse: at most
//! [`IN_FLIGHT`] of them exist at once, so memory stays bounded whatever the file's size.
//!
//! Small inputs never start a thread: hashing stays inline until [`THREAD_AFTER`] bytes have
//! been seen, and inline is also the fallback when a thread cannot be started.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Buffers given to the hashing thread and not yet handed back, at most.
const IN_FLIGHT: usize = 2;
/// Bytes hashed inline before a thread is worth starting.
const THREAD_AFTER: u64 = 4 << 20;
/// Size of the buffers [`BackgroundSha::update`] gathers small pieces into.
const GATHER: usize = 1 << 20;

type Work = (Vec<u8>, usize);

enum Mode {
    Inline(Sha256),
    Thread {
        to: SyncSender<Work>,
        back: Receiver<Vec<u8>>,
        handle: JoinHandle<Sha256>,
        out: usize,
    },
    /// The thread stopped (it cannot, short of a panic in the hash): finishing says so.
    Lost,
}

/// SHA-256 of everything fed to it, in order.
pub(crate) struct BackgroundSha {
    mode: Mode,
    seen: u64,
    gather: Vec<u8>,
    /// Whether a thread was asked for already (none is asked for twice).
    tried: bool,
}

impl Default for BackgroundSha {
    fn default() -> Self {
        Self::new()
    }
}

impl BackgroundSha {
    pub(crate) fn new() -> Self {
        BackgroundSha {
            mode: Mode::Inline(Sha256::new()),
            seen: 0,
            gather: Vec::new(),
            tried: false,
        }
    }

    /// Hash `buf[..len]`; returns a buffer of at least `buf`'s length for the next read
    /// (`buf` itself when hashed inline, else one handed back by the thread or a new one).
    pub(crate) fn feed(&mut self, buf: Vec<u8>, len: usize) -> Vec<u8> {
        self.seen += len as u64;
        if let Mode::Inline(h) = &mut self.mode {
            h.update(&buf[..len]);
            if self.seen >= THREAD_AFTER && !self.tried {
                self.start();
            }
            return buf;
        }
        let want = buf.len();
        let Mode::Thread { to, back, out, .. } = &mut self.mode else {
            return buf;
        };
        if to.send((buf, len)).is_err() {
            self.mode = Mode::Lost;
            return vec![0; want];
        }
        *out += 1;
        let next = if *out >= IN_FLIGHT {
            back.recv().ok()
        } else {
            back.try_recv().ok()
        };
        match next {
            Some(mut b) => {
                *out -= 1;
                if b.len() < want {
                    b.resize(want, 0);
                }
                b
            }
            None => vec![0; want],
        }
    }

    /// Hash a piece of any size (gathered into larger buffers first).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Mode::Inline(h) = &mut self.mode {
            self.seen += bytes.len() as u64;
            h.update(bytes);
            if self.seen >= THREAD_AFTER && !self.tried {
                self.start();
            }
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.gather.capacity() == 0 {
                self.gather = Vec::with_capacity(GATHER);
            }
            let room = GATHER - self.gather.len();
            let n = room.min(rest.len());
            self.gather.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.gather.len() == GATHER {
                let full = std::mem::take(&mut self.gather);
                let mut next = self.feed(full, GATHER);
                next.clear();
                self.gather = next;
            }
        }
    }

    fn start(&mut self) {
        self.tried = true;
        let Mode::Inline(h) = std::mem::replace(&mut self.mode, Mode::Lost) else {
            return;
        };
        let (to, from) = mpsc::sync_channel::<Work>(IN_FLIGHT);
        let (give_back, back) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        // A copy of the state so far: if the thread cannot be started, hashing goes on inline.
        let spare = h.clone();
        let started = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut h = h;
                for (buf, len) in from {
                    h.update(&buf[..len]);
                    // The reader may have stopped taking buffers back; that is fine.
                    let _ = give_back.try_send(buf);
                }
                h
            });
        self.mode = match started {
            Ok(handle) => Mode::Thread {
                to,
                back,
                handle,
                out: 0,
            },
            Err(_) => Mode::Inline(spare),
        };
    }

    /// The digest of everything fed; None only if the hashing thread died.
    pub(crate) fn finish(mut self) -> Option<[u8; 32]> {
        if !self.gather.is_empty() {
            let rest = std::mem::take(&mut self.gather);
            let n = rest.len();
            if let Mode::Inline(h) = &mut self.mode {
                h.update(&rest);
            } else {
                let _ = self.feed(rest, n);
            }
        }
        match self.mode {
            Mode::Inline(h) => Some(h.finalize().into()),
            Mode::Thread { to, handle, .. } => {
                drop(to);
                handle.join().ok().map(|h| h.finalize().into())
            }
            Mode::Lost => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4099) as u8).collect()
    }

    #[test]
    fn equals_an_inline_sha256_for_any_feeding() {
        for size in [0usize, 1, 4096, (4 << 20) - 1, 4 << 20, (9 << 20) + 12345] {
            let bytes = data(size);
            let want: [u8; 32] = Sha256::digest(&bytes).into();
            // Whole buffers of uneven fill.
            let mut s = BackgroundSha::new();
            let mut buf = vec![0u8; 1 << 20];
            for piece in bytes.chunks(777_777) {
                buf[..piece.len()].copy_from_slice(piece);
                buf = s.feed(buf, piece.len());
                assert!(buf.len() >= 1 << 20);
            }
            assert_eq!(s.finish(), Some(want), "feed, {size} bytes");
            // Small pieces.
            let mut s = BackgroundSha::new();
            for piece in bytes.chunks(4096) {
                s.update(piece);
            }
            assert_eq!(s.finish(), Some(want), "update, {size} bytes");
        }
    }
}
