//! The file side of `events.csv`: whole buffers of rows written on a thread of their own, with
//! direct I/O where the file system allows it and through the page cache where it does not.
//!
//! [`EventsCsv`](super::EventsCsv) builds rows into a [`Chunk`] and hands full ones to an
//! [`ExportWriter`], which passes them to its thread and hands back an empty buffer. A direct
//! write waits for the disk (on the benchmark machine a 1 MiB write took about a millisecond,
//! six seconds of the ten-million-line run): on its own thread that wait overlaps with building
//! the next rows instead of stalling them. Nothing here reads the rows; this module does not
//! know they are CSV.
//!
//! Key types: [`ExportWriter`], [`Chunk`].

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// Direct I/O writes memory and file offsets that are multiples of this, in multiples of it:
/// a page, which covers the logical block size of the disks and file systems pxtrack meets.
/// A file system that asks for more refuses the write, and the writer falls back to the page
/// cache.
pub const DIRECT_ALIGN: usize = 4096;

/// Bytes of rows gathered before they go to the file.
pub const FLUSH_BYTES: usize = 1 << 20;

/// Buffers in use at once: one being filled, the others queued or being written. Four keep
/// the disk busy through a slow write and cost about 4 MiB.
const BUFFERS: usize = 4;

/// Every this many bytes written through the page cache, the file's older pages are let go
/// of: see [`ExportFile::release_cache`].
const RELEASE_BYTES: u64 = 32 << 20;

/// A buffer of rows whose first byte, at `start`, sits on a [`DIRECT_ALIGN`] boundary in
/// memory, as direct I/O needs. The bytes before `start` are filler.
pub struct Chunk {
    buf: Vec<u8>,
    start: usize,
}

impl Chunk {
    /// An empty chunk with room for [`FLUSH_BYTES`] of rows and a long row past them.
    pub fn new() -> Self {
        let mut c = Chunk {
            buf: Vec::new(),
            start: 0,
        };
        c.realign(0);
        c
    }

    /// The buffer to append rows to: [`Chunk::rows`] are what was appended since the start.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The rows, without the filler.
    pub fn rows(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Puts the rows back on an aligned start, in a buffer with room for `FLUSH_BYTES` more,
    /// if growing the buffer for a long row moved them.
    fn keep_aligned(&mut self) {
        if !(self.buf.as_ptr().wrapping_add(self.start) as usize).is_multiple_of(DIRECT_ALIGN) {
            self.realign(self.buf.len() - self.start);
        }
    }

    /// Moves the last `keep` bytes of rows to a fresh, aligned start.
    fn realign(&mut self, keep: usize) {
        let mut fresh: Vec<u8> = Vec::with_capacity(keep + FLUSH_BYTES + 64 * 1024 + DIRECT_ALIGN);
        let start = fresh.as_ptr().align_offset(DIRECT_ALIGN);
        fresh.resize(start, 0);
        fresh.extend_from_slice(&self.buf[self.buf.len() - keep..]);
        self.buf = fresh;
        self.start = start;
    }

    /// Empties the chunk for reuse and puts `tail` at its aligned start.
    fn refill(&mut self, tail: &[u8]) {
        if self.buf.capacity() < self.start + tail.len() + FLUSH_BYTES {
            self.buf.reserve(tail.len() + FLUSH_BYTES);
        }
        self.buf.truncate(self.start);
        self.keep_aligned();
        self.buf.extend_from_slice(tail);
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Self::new()
    }
}

/// The export file itself: direct I/O while the file system takes it, then the page cache.
struct ExportFile {
    file: fs::File,
    path: PathBuf,
    direct: bool,
    /// Bytes written so far.
    written: u64,
    /// The file's pages before this are out of the page cache, or on their way out.
    released: u64,
    /// Where the last [`ExportFile::release_cache`] ended.
    advised: u64,
    /// [`RELEASE_BYTES`]; smaller in tests.
    release_every: u64,
}

impl ExportFile {
    /// Writes `rows`. With direct I/O these must be whole [`DIRECT_ALIGN`] blocks at an aligned
    /// address, except the last rows of the file, which go through the page cache.
    fn write(&mut self, rows: &[u8], last: bool) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.direct && !last {
            debug_assert!(rows.len().is_multiple_of(DIRECT_ALIGN));
            match self.file.write_all(rows) {
                Ok(()) => {
                    self.written += rows.len() as u64;
                    return Ok(());
                }
                // Refused before anything was written (alignment, or a file system that does
                // not do direct I/O after all): write through the page cache.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    self.buffered_from_now(e)?;
                }
                Err(e) => return Err(Error::io(&self.path, e)),
            }
        }
        if self.direct {
            // The tail is not a whole block: it goes through the page cache.
            self.buffered_from_now(std::io::Error::other("cannot turn direct I/O off"))?;
        }
        self.file
            .write_all(rows)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written += rows.len() as u64;
        if self.written - self.advised >= self.release_every {
            self.release_cache();
        }
        Ok(())
    }

    /// Turns direct I/O off; `why` is the error to report if it cannot be.
    fn buffered_from_now(&mut self, why: std::io::Error) -> Result<()> {
        if !set_direct_io(&self.file, false) {
            return Err(Error::io(&self.path, why));
        }
        self.direct = false;
        Ok(())
    }

    /// Tells the kernel that pxtrack will not read back what it wrote of `events.csv` (Linux).
    ///
    /// The file is written once and is often gigabytes: kept in the page cache it would push
    /// out what the machine had cached, and on a virtual machine every page of a growing cache
    /// is first-touch memory, which made writing the file the largest part of the system time
    /// (`dd` of 3.7 GB here: 2.8-8.7 s buffered, 1.2 s letting the pages go). The advice on a
    /// range starts writing its dirty pages back and drops its clean ones. Each call covers
    /// what was written since the call before (starting its write-back) and the stretch before
    /// that (written back by now, so dropped). Advice never fails the export: an error is
    /// ignored.
    fn release_cache(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let len = std::num::NonZeroU64::new(self.written - self.released);
            let _ =
                rustix::fs::fadvise(&self.file, self.released, len, rustix::fs::Advice::DontNeed);
        }
        self.released = self.advised;
        self.advised = self.written;
    }

    fn finish(mut self) -> Result<Written> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(Written {
            bytes: self.written,
            released: self.released,
            advised: self.advised,
            cpu_secs: crate::fast::thread_cpu_secs(),
        })
    }
}

/// What the writer thread did: for the tests, and `PXTRACK_TIMINGS`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    /// Bytes written.
    pub bytes: u64,
    /// The page cache was let go of before this offset.
    pub released: u64,
    /// The last advice ended here.
    pub advised: u64,
    /// The writer thread's processor time, in seconds.
    pub cpu_secs: f64,
}

/// Writes chunks of rows to a file on a thread of its own, in the order they are handed over.
pub struct ExportWriter {
    to_thread: Option<SyncSender<(Chunk, bool)>>,
    empty: Receiver<Chunk>,
    /// Chunks made so far, up to [`BUFFERS`].
    made: usize,
    thread: Option<JoinHandle<Result<Written>>>,
}

/// How the file is written: `analyze` asks for direct I/O; the tests also go through the page
/// cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Direct I/O where the file system allows it.
    Direct,
    /// Through the page cache, letting the file's pages go every `release_every` bytes.
    Buffered { release_every: u64 },
}

impl ExportWriter {
    /// Creates (or truncates) the file at `path`, to be written as `mode` says, and starts its
    /// thread.
    pub fn create_with(path: &Path, mode: Mode) -> Result<Self> {
        let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let (direct, release_every) = match mode {
            Mode::Direct => (set_direct_io(&file, true), RELEASE_BYTES),
            Mode::Buffered { release_every } => (false, release_every.max(1)),
        };
        let mut export = ExportFile {
            file,
            path: path.to_path_buf(),
            direct,
            written: 0,
            released: 0,
            advised: 0,
            release_every,
        };
        let (to_thread, from_builder) = sync_channel::<(Chunk, bool)>(BUFFERS);
        let (back, empty) = sync_channel::<Chunk>(BUFFERS);
        let thread = std::thread::Builder::new()
            .name("pxtrack-csv-io".into())
            .spawn(move || {
                for (chunk, last) in from_builder {
                    export.write(chunk.rows(), last)?;
                    // The builder may have stopped taking buffers back: then it is finishing.
                    let _ = back.try_send(chunk);
                }
                export.finish()
            })
            .map_err(|e| Error::io(path, e))?;
        Ok(ExportWriter {
            to_thread: Some(to_thread),
            empty,
            made: 0,
            thread: Some(thread),
        })
    }

    /// Hands over the whole [`DIRECT_ALIGN`] blocks of `chunk`'s rows to be written, and leaves
    /// `chunk` with the rest at the start of another buffer.
    pub fn write_blocks(&mut self, chunk: &mut Chunk) -> Result<()> {
        chunk.keep_aligned();
        let rows = chunk.rows().len();
        let whole = rows - rows % DIRECT_ALIGN;
        if whole == 0 {
            return Ok(());
        }
        let mut next = match self.empty.try_recv() {
            Ok(c) => c,
            Err(_) if self.made < BUFFERS => {
                self.made += 1;
                Chunk::new()
            }
            Err(_) => match self.empty.recv() {
                Ok(c) => c,
                // The thread stopped, on an error that `finish` reports.
                Err(_) => return self.stopped(),
            },
        };
        next.refill(&chunk.rows()[whole..]);
        let mut full = std::mem::replace(chunk, next);
        full.buf.truncate(full.start + whole);
        self.send(full, false)
    }

    fn send(&mut self, chunk: Chunk, last: bool) -> Result<()> {
        let sent = self
            .to_thread
            .as_ref()
            .is_some_and(|t| t.send((chunk, last)).is_ok());
        if sent { Ok(()) } else { self.stopped() }
    }

    /// The thread stopped early: its error.
    fn stopped(&mut self) -> Result<()> {
        self.join().map(|_| ())
    }

    fn join(&mut self) -> Result<Written> {
        self.to_thread = None;
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Writes the rest of `chunk`, waits for every write and reports the first error.
    pub fn finish(mut self, chunk: Chunk) -> Result<Written> {
        self.send(chunk, true)?;
        self.join()
    }
}

impl Drop for ExportWriter {
    fn drop(&mut self) {
        // Abandoned (an error elsewhere): let the thread drain and stop.
        self.to_thread = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Turns direct I/O on or off for `file` (Linux; elsewhere it stays off) and says whether
/// that took.
///
/// `events.csv` is written once, often gigabytes, and not read back by pxtrack. Through the page
/// cache every byte is copied into the kernel's memory and the cache fills with pages that are
/// then let go of (see [`ExportFile::release_cache`]); with direct I/O the disk reads the rows
/// from pxtrack's buffer, which halves the system time on the 10-million-line benchmark (3.7 GB
/// of export). File systems without direct I/O refuse the flag, and the file is then written
/// through the cache.
fn set_direct_io(file: &fs::File, on: bool) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::OFlags;
        let Ok(flags) = rustix::fs::fcntl_getfl(file) else {
            return false;
        };
        let flags = if on {
            flags | OFlags::DIRECT
        } else {
            flags - OFlags::DIRECT
        };
        rustix::fs::fcntl_setfl(file, flags).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, on);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `n` bytes of rows, handing whole blocks over as the export does.
    fn fill(w: &mut ExportWriter, chunk: &mut Chunk, n: usize, byte: u8) -> Result<()> {
        for _ in 0..n / 1000 {
            chunk.buf().extend_from_slice(&[byte; 1000]);
            if chunk.rows().len() >= FLUSH_BYTES {
                w.write_blocks(chunk)?;
            }
        }
        Ok(())
    }

    #[test]
    fn chunks_reach_the_file_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [Mode::Direct, Mode::Buffered { release_every: 1 }] {
            let path = dir.path().join("out");
            let mut w = ExportWriter::create_with(&path, mode).unwrap();
            let mut chunk = Chunk::new();
            let mut expected = Vec::new();
            // More buffers than the pool holds, each with a different byte, and a tail that is
            // not a whole block.
            for i in 0..3 * BUFFERS as u8 {
                fill(&mut w, &mut chunk, 700_000, b'a' + i).unwrap();
                expected.extend(std::iter::repeat_n(b'a' + i, 700_000));
            }
            chunk.buf().extend_from_slice(b"tail");
            expected.extend_from_slice(b"tail");
            let written = w.finish(chunk).unwrap();
            assert_eq!(written.bytes, expected.len() as u64);
            assert!(std::fs::read(&path).unwrap() == expected, "{mode:?}");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_failed_write_is_reported_with_the_path() {
        let path = Path::new("/dev/full");
        let mut w = ExportWriter::create_with(path, Mode::Buffered { release_every: 1 }).unwrap();
        let mut chunk = Chunk::new();
        // The thread fails on the first buffer; the error comes back from a later hand-over or
        // from finish, never lost.
        let err = fill(&mut w, &mut chunk, 10 * FLUSH_BYTES, b'x')
            .and_then(|()| w.finish(chunk).map(|_| ()))
            .unwrap_err();
        assert!(err.to_string().contains("/dev/full"), "{err}");
    }
}
