//! Block files (and WAL checkpoints) read and written with O_DIRECT, so storage I/O never
//! fills (or depends on) the OS page cache: aligned buffers, aligned offsets and lengths. A
//! file system that refuses O_DIRECT (tmpfs answers EINVAL) gets buffered I/O for that file
//! instead: reads report it to the caller, which counts it (`DirectFile::open`,
//! `read_aligned`); `DirectWriter::finish` logs it (`note_buffered_write`) and reports it.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Error;

/// Alignment of O_DIRECT buffers, offsets and lengths: the largest logical block size in
/// common use (4Kn disks), a multiple of the 512-byte one.
pub const IO_ALIGN_BYTES: usize = 4096;
/// Bytes per read of a long range (`read_range`) and per `SequentialReader` window.
const WHOLE_FILE_READ_BYTES: usize = 1 << 20;
/// The most a `DirectWriter` buffers before one aligned write (smaller when the caller says
/// the file is smaller: `DirectWriter::create_sized`).
pub const DIRECT_WRITE_BUFFER_BYTES_MAX: usize = 1 << 20;

#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct AlignedUnit([u8; IO_ALIGN_BYTES]);

/// A zeroed heap buffer whose start and length are multiples of `IO_ALIGN_BYTES`.
pub struct AlignedBuf {
    units: Box<[AlignedUnit]>,
}

impl AlignedBuf {
    /// A buffer of at least `bytes` bytes (rounded up to the alignment).
    pub fn zeroed(bytes: usize) -> AlignedBuf {
        let units = bytes.div_ceil(IO_ALIGN_BYTES).max(1);
        AlignedBuf {
            units: vec![AlignedUnit([0; IO_ALIGN_BYTES]); units].into_boxed_slice(),
        }
    }

    pub fn len_bytes(&self) -> usize {
        self.units.len() * IO_ALIGN_BYTES
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `AlignedUnit` is `repr(C)` over a byte array with no padding (its size
        // equals its alignment), so the units are `len()` contiguous, initialised bytes.
        unsafe { std::slice::from_raw_parts(self.units.as_ptr().cast::<u8>(), self.len_bytes()) }
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len_bytes();
        // SAFETY: as in `as_bytes`; the exclusive borrow of `self` makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(self.units.as_mut_ptr().cast::<u8>(), len) }
    }
}

/// One read-only block file, O_DIRECT when the file system allows it.
pub struct DirectFile {
    path: PathBuf,
    file: RefCell<File>,
    direct: Cell<bool>,
    size_bytes: u64,
}

fn is_direct_refusal(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// An O_DIRECT open's result, turned into a refusal (EINVAL) when the `DirectIoRefused` fault
/// is armed (builds with `fault-injection`; otherwise the result as it is).
fn with_injected_refusal(opened: std::io::Result<File>) -> std::io::Result<File> {
    #[cfg(feature = "fault-injection")]
    if opened.is_ok() && crate::fault::take(|f| *f == crate::fault::Fault::DirectIoRefused).is_some() {
        return Err(crate::fault::os_error(libc::EINVAL));
    }
    opened
}

fn open_buffered(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| Error::io("open", path, e))
}

impl DirectFile {
    /// Opens `path`; the flag is true when O_DIRECT was refused and the file reads buffered.
    /// `NotFound` keeps its kind so callers can stop at the last file of a sequence.
    pub fn open(path: &Path) -> Result<(DirectFile, bool), Error> {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        let opened = with_injected_refusal(opened);
        let (file, fell_back) = match opened {
            Ok(file) => (file, false),
            Err(e) if is_direct_refusal(&e) => (open_buffered(path)?, true),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let size_bytes = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok((
            DirectFile {
                path: path.to_path_buf(),
                file: RefCell::new(file),
                direct: Cell::new(!fell_back),
                size_bytes,
            },
            fell_back,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    #[cfg(test)]
    pub fn is_direct(&self) -> bool {
        self.direct.get()
    }

    /// Reads `[offset, offset + want)` into the start of `buf` (`offset` aligned, `want` ≤
    /// `buf.len_bytes()` and inside the file). Returns true when this read found O_DIRECT refused
    /// and switched the file to buffered reads.
    pub fn read_aligned(&self, offset: u64, want: usize, buf: &mut AlignedBuf) -> Result<bool, Error> {
        debug_assert_eq!(offset % IO_ALIGN_BYTES as u64, 0, "direct reads start aligned");
        debug_assert!(want <= buf.len_bytes(), "the buffer holds the read");
        debug_assert!(offset + want as u64 <= self.size_bytes, "reads stay inside the file");
        if self.direct.get() {
            // One aligned read: O_DIRECT on a regular file is short only at end of file.
            let len = want.div_ceil(IO_ALIGN_BYTES) * IO_ALIGN_BYTES;
            let result = self.file.borrow().read_at(&mut buf.as_bytes_mut()[..len], offset);
            match result {
                Ok(n) if n >= want => return Ok(false),
                Ok(n) => {
                    return Err(Error::corrupt(
                        &self.path,
                        format!("short read at {offset}: {n} of {want} bytes (file changed?)"),
                    ))
                }
                Err(e) if is_direct_refusal(&e) => {
                    *self.file.borrow_mut() = open_buffered(&self.path)?;
                    self.direct.set(false);
                    self.read_buffered(offset, &mut buf.as_bytes_mut()[..want])?;
                    return Ok(true);
                }
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
        self.read_buffered(offset, &mut buf.as_bytes_mut()[..want])?;
        Ok(false)
    }

    fn read_buffered(&self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        self.file
            .borrow()
            .read_exact_at(out, offset)
            .map_err(|e| Error::io("read", &self.path, e))
    }

    /// The bytes `[offset, offset + len)` (inside the file), read in aligned pieces of at
    /// most `WHOLE_FILE_READ_BYTES`: a block index's sections decoded once at open, which
    /// would only crowd the page cache. The flag is `read_aligned`'s.
    pub fn read_range(&self, offset: u64, len: usize) -> Result<(Vec<u8>, bool), Error> {
        let end = offset.checked_add(len as u64).filter(|end| *end <= self.size_bytes);
        let Some(end) = end else {
            return Err(Error::corrupt(
                &self.path,
                format!("read of {len} bytes at {offset} runs past the end"),
            ));
        };
        let mut out = Vec::with_capacity(len);
        let mut at = offset - offset % IO_ALIGN_BYTES as u64;
        let mut skip = (offset - at) as usize;
        let piece = WHOLE_FILE_READ_BYTES.min((len + skip).next_multiple_of(IO_ALIGN_BYTES));
        let mut buf = AlignedBuf::zeroed(piece);
        let mut fell_back = false;
        while out.len() < len {
            let want = (end - at).min(buf.len_bytes() as u64) as usize;
            fell_back |= self.read_aligned(at, want, &mut buf)?;
            out.extend_from_slice(&buf.as_bytes()[skip..want]);
            at += want as u64;
            skip = 0;
        }
        Ok((out, fell_back))
    }
}

/// Reads a `DirectFile` front to back through one aligned window of
/// `WHOLE_FILE_READ_BYTES`, as `std::io::Read` (WAL checkpoint replay: a file read once at
/// open, sequentially, that should not pass through the OS page cache either).
pub struct SequentialReader {
    file: DirectFile,
    window: AlignedBuf,
    /// File offset of the window's first byte.
    window_start: u64,
    /// Valid bytes in the window.
    window_len: usize,
    /// Next byte of the window to hand out.
    pos: usize,
    /// The storage error behind the last failed read (`std::io::Read` can only carry text).
    error: Option<Error>,
}

impl SequentialReader {
    pub fn new(file: DirectFile) -> SequentialReader {
        let window = AlignedBuf::zeroed(WHOLE_FILE_READ_BYTES.min((file.size_bytes() as usize).max(1)));
        SequentialReader { file, window, window_start: 0, window_len: 0, pos: 0, error: None }
    }

    /// The error behind the last failed `read`, with its path and operation.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl std::io::Read for SequentialReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.window_len {
            // Every window but the last is full, so each one starts aligned.
            let next = self.window_start + self.window_len as u64;
            let left = self.file.size_bytes().saturating_sub(next);
            if left == 0 || out.is_empty() {
                return Ok(0);
            }
            let want = left.min(self.window.len_bytes() as u64) as usize;
            if let Err(e) = self.file.read_aligned(next, want, &mut self.window) {
                let text = e.to_string();
                self.error = Some(e);
                return Err(std::io::Error::other(text));
            }
            self.window_start = next;
            self.window_len = want;
            self.pos = 0;
        }
        let n = out.len().min(self.window_len - self.pos);
        out[..n].copy_from_slice(&self.window.as_bytes()[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A new file written with O_DIRECT: bytes gather in an aligned buffer that goes out in
/// whole aligned writes; `finish` writes the zero-padded last page, cuts the file to its
/// exact length and fsyncs. Nothing reaches the file before a full buffer or `finish`, and a
/// writer dropped without `finish` loses what it buffered (error paths remove such files).
/// Where O_DIRECT is refused (EINVAL at open, or at the first write on file systems that
/// accept the flag but not the I/O) it writes buffered instead, with the same bytes.
pub struct DirectWriter {
    path: PathBuf,
    file: File,
    direct: bool,
    fell_back: bool,
    buf: AlignedBuf,
    /// Bytes at the start of `buf` not yet written.
    buf_used_bytes: usize,
    /// Bytes already in the file, before `buf`: a multiple of `IO_ALIGN_BYTES` while direct.
    file_bytes: u64,
}

fn open_for_write(path: &Path, extra_flags: i32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(extra_flags)
        .open(path)
}

impl DirectWriter {
    /// Creates (or truncates) `path` with a buffer of `DIRECT_WRITE_BUFFER_BYTES_MAX`. The
    /// flag is true when O_DIRECT was refused and the file is written buffered (`finish`
    /// reports that again, together with a refusal met only at a write).
    pub fn create(path: &Path) -> Result<(DirectWriter, bool), Error> {
        DirectWriter::create_sized(path, DIRECT_WRITE_BUFFER_BYTES_MAX)
    }

    /// `create` with a buffer for about `expected_bytes` (rounded up to the alignment, at most
    /// `DIRECT_WRITE_BUFFER_BYTES_MAX`): small files (meta.json) need no 1 MiB buffer.
    pub fn create_sized(path: &Path, expected_bytes: usize) -> Result<(DirectWriter, bool), Error> {
        let opened = open_for_write(path, libc::O_DIRECT);
        let opened = with_injected_refusal(opened);
        let (file, fell_back) = match opened {
            Ok(file) => (file, false),
            Err(e) if is_direct_refusal(&e) => {
                (open_for_write(path, 0).map_err(|e| Error::io("create", path, e))?, true)
            }
            Err(e) => return Err(Error::io("create", path, e)),
        };
        let buffer_bytes = expected_bytes.clamp(IO_ALIGN_BYTES, DIRECT_WRITE_BUFFER_BYTES_MAX);
        Ok((
            DirectWriter {
                path: path.to_path_buf(),
                file,
                direct: !fell_back,
                fell_back,
                buf: AlignedBuf::zeroed(buffer_bytes),
                buf_used_bytes: 0,
                file_bytes: 0,
            },
            fell_back,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far (in the file or buffered): the offset of the next byte.
    pub fn len_bytes(&self) -> u64 {
        self.file_bytes + self.buf_used_bytes as u64
    }

    /// Writes the first `len` bytes of the buffer at the file's end; `len` is aligned while
    /// direct. A refusal of O_DIRECT here switches the file to buffered writes and repeats
    /// the write from the same offset, so no byte is lost.
    fn write_buffer(&mut self, len: usize) -> std::io::Result<()> {
        if self.direct {
            debug_assert_eq!(len % IO_ALIGN_BYTES, 0, "direct writes are whole pages");
            debug_assert_eq!(self.file_bytes % IO_ALIGN_BYTES as u64, 0, "direct writes start aligned");
            #[cfg(feature = "fault-injection")]
            let refused = crate::fault::take(|f| *f == crate::fault::Fault::DirectIoWriteRefused).is_some();
            #[cfg(not(feature = "fault-injection"))]
            let refused = false;
            let written = if refused {
                Err(std::io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                self.file.write_all_at(&self.buf.as_bytes()[..len], self.file_bytes)
            };
            match written {
                Ok(()) => return Ok(()),
                Err(e) if is_direct_refusal(&e) => {
                    self.file = OpenOptions::new().write(true).open(&self.path)?;
                    self.direct = false;
                    self.fell_back = true;
                }
                Err(e) => return Err(e),
            }
        }
        self.file.write_all_at(&self.buf.as_bytes()[..len], self.file_bytes)
    }

    /// Writes what is buffered (the last page zero-padded while direct), sets the file's
    /// length to the bytes written, fsyncs the file (data and metadata) and returns that
    /// length and whether any of it was written buffered (O_DIRECT refused; logged here by
    /// `note_buffered_write`).
    pub fn finish(mut self) -> Result<(u64, bool), Error> {
        let used = self.buf_used_bytes;
        let len = self.len_bytes();
        if used > 0 {
            let padded = if self.direct { used.div_ceil(IO_ALIGN_BYTES) * IO_ALIGN_BYTES } else { used };
            self.buf.as_bytes_mut()[used..padded].fill(0);
            self.write_buffer(padded).map_err(|e| Error::io("write", &self.path, e))?;
            // Also after a refusal during this very write: the padding went out buffered.
            if padded != used {
                self.file.set_len(len).map_err(|e| Error::io("truncate", &self.path, e))?;
            }
        }
        self.file.sync_all().map_err(|e| Error::io("fsync", &self.path, e))?;
        if self.fell_back {
            note_buffered_write(&self.path);
        }
        Ok((len, self.fell_back))
    }
}

/// Files (block files, WAL checkpoints) written through the OS page cache because O_DIRECT
/// was refused, in this process. Writers run on the executors, the blocking pool and
/// compaction threads and hold no shard state, so this counts per process (reads that fall
/// back are counted per shard by the page cache).
static BUFFERED_WRITES: AtomicU64 = AtomicU64::new(0);

/// `BUFFERED_WRITES` so far, for `/metrics`.
pub fn buffered_writes_total() -> u64 {
    BUFFERED_WRITES.load(Ordering::Relaxed)
}

/// Counts, and logs (at warn, once per process; at debug after that), a file written through
/// the OS page cache because O_DIRECT was refused.
fn note_buffered_write(path: &Path) {
    BUFFERED_WRITES.fetch_add(1, Ordering::Relaxed);
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if LOGGED.swap(true, Ordering::Relaxed) {
        tracing::debug!(path = %path.display(), "file system refused O_DIRECT; file written through the OS page cache");
    } else {
        tracing::warn!(path = %path.display(), "file system refuses O_DIRECT for block files and WAL checkpoints; writing them through the OS page cache (logged once)");
    }
}

impl Write for DirectWriter {
    /// Buffers `data`, writing the buffer out whenever it fills.
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let take = data.len().min(self.buf.len_bytes() - self.buf_used_bytes);
        self.buf.as_bytes_mut()[self.buf_used_bytes..self.buf_used_bytes + take].copy_from_slice(&data[..take]);
        self.buf_used_bytes += take;
        if self.buf_used_bytes == self.buf.len_bytes() {
            self.write_buffer(self.buf_used_bytes)?;
            self.file_bytes += self.buf_used_bytes as u64;
            self.buf_used_bytes = 0;
        }
        Ok(take)
    }

    /// Does nothing: a partial page cannot go out with O_DIRECT before the end; `finish`
    /// writes and syncs the rest.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned() {
        for bytes in [1, 4096, 4097, 65536] {
            let b = AlignedBuf::zeroed(bytes);
            assert_eq!(b.as_bytes().as_ptr() as usize % IO_ALIGN_BYTES, 0);
            assert_eq!(b.len_bytes() % IO_ALIGN_BYTES, 0);
            assert!(b.len_bytes() >= bytes);
        }
    }

    /// Range reads (whole files, and unaligned pieces across the read size) equal the file
    /// on the test's file system (ext4: O_DIRECT) and on /dev/shm (tmpfs: O_DIRECT refused on
    /// older kernels, buffered fallback); a range past the end is an error.
    #[test]
    fn read_range_equals_the_file_with_or_without_o_direct() {
        let bytes: Vec<u8> = (0..(3 * WHOLE_FILE_READ_BYTES + 123)).map(|i| (i * 7 % 251) as u8).collect();
        let disk = tempfile::tempdir().expect("tempdir");
        let mut dirs = vec![disk.path().to_path_buf()];
        let shm = std::path::Path::new("/dev/shm").is_dir().then(|| tempfile::tempdir_in("/dev/shm").expect("tempdir"));
        dirs.extend(shm.as_ref().map(|d| d.path().to_path_buf()));
        for dir in dirs {
            for len in [0, 1, 4096, 5000, bytes.len()] {
                let path = dir.join(format!("f{len}"));
                std::fs::write(&path, &bytes[..len]).expect("write");
                let (file, fell_back) = DirectFile::open(&path).expect("open");
                assert_eq!(file.is_direct(), !fell_back);
                let (read, _) = file.read_range(0, len).expect("read");
                assert!(read == bytes[..len], "{} bytes in {}", len, dir.display());
                for (at, n) in [(0, 0), (1, 3), (4095, 2), (4097, WHOLE_FILE_READ_BYTES + 5), (len / 3, len / 2)] {
                    if at + n <= len {
                        let (read, _) = file.read_range(at as u64, n).expect("read");
                        assert!(read == bytes[at..at + n], "{n} bytes at {at} of {len} in {}", dir.display());
                    }
                }
                assert!(file.read_range(len as u64, 1).is_err(), "past the end");
            }
        }
    }

    /// A `SequentialReader` hands out exactly the file's bytes whatever the sizes asked for
    /// (pieces smaller than a page, across window boundaries, larger than a window), on the
    /// disk (O_DIRECT) and on /dev/shm (buffered where O_DIRECT is refused).
    #[test]
    fn sequential_reads_equal_the_file_in_any_pieces() {
        use std::io::Read;
        let bytes: Vec<u8> = (0..(3 * WHOLE_FILE_READ_BYTES + 123)).map(|i| (i * 13 % 241) as u8).collect();
        let disk = disk_tempdir();
        let mut dirs = vec![disk.path().to_path_buf()];
        let shm = std::path::Path::new("/dev/shm").is_dir().then(|| tempfile::tempdir_in("/dev/shm").expect("tempdir"));
        dirs.extend(shm.as_ref().map(|d| d.path().to_path_buf()));
        for dir in dirs {
            for len in [0, 1, 4096, 5000, 2 * WHOLE_FILE_READ_BYTES, bytes.len()] {
                let path = dir.join(format!("s{len}"));
                std::fs::write(&path, &bytes[..len]).expect("write");
                for pieces in [&[1usize, 4095, 7][..], &[WHOLE_FILE_READ_BYTES + 3][..], &[8][..]] {
                    let (file, _) = DirectFile::open(&path).expect("open");
                    let mut reader = SequentialReader::new(file);
                    let mut read = Vec::new();
                    for &piece in pieces.iter().cycle() {
                        let mut out = vec![0u8; piece];
                        let n = reader.read(&mut out).expect("read");
                        if n == 0 {
                            break;
                        }
                        read.extend_from_slice(&out[..n]);
                    }
                    assert!(read == bytes[..len], "{len} bytes in pieces {pieces:?} in {}", dir.display());
                    assert!(reader.take_error().is_none());
                }
            }
        }
    }

    /// A directory on the disk that holds the build (next to the test binary), where O_DIRECT
    /// works; `/tmp` may be tmpfs, which keeps every file in memory whatever the flags.
    fn disk_tempdir() -> tempfile::TempDir {
        let exe = std::env::current_exe().expect("test binary path");
        tempfile::tempdir_in(exe.parent().expect("test binary directory")).expect("tempdir")
    }

    /// Writes `bytes` through a `DirectWriter` in pieces of the given sizes (cycled).
    fn write_in_pieces(path: &Path, buffer_bytes: usize, bytes: &[u8], pieces: &[usize]) -> (u64, bool, bool) {
        let (mut w, refused_at_open) = DirectWriter::create_sized(path, buffer_bytes).expect("create");
        let mut at = 0;
        for &piece in pieces.iter().cycle() {
            if at == bytes.len() {
                break;
            }
            let end = (at + piece).min(bytes.len());
            w.write_all(&bytes[at..end]).expect("write");
            at = end;
            assert_eq!(w.len_bytes(), at as u64);
        }
        let (written, fell_back) = w.finish().expect("finish");
        (written, refused_at_open, fell_back)
    }

    const PIECES: [usize; 6] = [1, 7, 4093, 65_537, 1_000_003, 4096];

    fn test_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 13 % 251) as u8 + 1).collect()
    }

    /// The file holds exactly what was written, at its exact length, for lengths around the
    /// alignment and the buffer size, written in odd pieces, with a full-size and a one-page
    /// buffer; on the build's disk (O_DIRECT) and on /dev/shm (tmpfs: maybe refused).
    #[test]
    fn direct_writes_round_trip_exactly() {
        let bytes = test_bytes(3 * DIRECT_WRITE_BUFFER_BYTES_MAX + 4097 + 123);
        let disk = disk_tempdir();
        let mut dirs = vec![disk.path().to_path_buf()];
        let shm = Path::new("/dev/shm").is_dir().then(|| tempfile::tempdir_in("/dev/shm").expect("tempdir"));
        dirs.extend(shm.as_ref().map(|d| d.path().to_path_buf()));
        for dir in &dirs {
            for len in [0, 1, 4095, 4096, 4097, DIRECT_WRITE_BUFFER_BYTES_MAX, bytes.len()] {
                for buffer_bytes in [DIRECT_WRITE_BUFFER_BYTES_MAX, 1] {
                    let path = dir.join(format!("f{len}-{buffer_bytes}"));
                    let (written, refused_at_open, fell_back) = write_in_pieces(&path, buffer_bytes, &bytes[..len], &PIECES);
                    assert!(!refused_at_open || fell_back, "a refusal at open is reported by finish too");
                    assert_eq!(written, len as u64);
                    let on_disk = std::fs::read(&path).expect("read back");
                    assert_eq!(on_disk.len(), len, "exact length, {} bytes in {}", len, dir.display());
                    assert!(on_disk == bytes[..len], "{} bytes in {}", len, dir.display());
                }
            }
        }
    }

    /// Pages of `path` resident in the OS page cache (mmap + mincore).
    fn resident_pages(path: &Path) -> usize {
        let file = File::open(path).expect("open");
        let len = usize::try_from(file.metadata().expect("stat").len()).expect("fits");
        assert!(len > 0, "mincore needs a mapping");
        // SAFETY: a read-only shared mapping of a file nobody changes meanwhile; `vec` has one
        // byte per page of the mapping, as mincore requires; the mapping is unmapped below.
        unsafe {
            let addr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, std::os::fd::AsRawFd::as_raw_fd(&file), 0);
            assert_ne!(addr, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let mut vec = vec![0u8; len.div_ceil(page)];
            let rc = libc::mincore(addr, len, vec.as_mut_ptr());
            let error = std::io::Error::last_os_error();
            libc::munmap(addr, len);
            assert_eq!(rc, 0, "mincore: {error}");
            vec.iter().filter(|&&v| v & 1 == 1).count()
        }
    }

    fn file_system_magic(dir: &Path) -> i64 {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("no NUL in a temp path");
        // SAFETY: `statfs` fills the zeroed struct we own from a NUL-terminated path.
        unsafe {
            let mut st: libc::statfs = std::mem::zeroed();
            assert_eq!(libc::statfs(c_path.as_ptr(), &mut st), 0, "statfs: {}", std::io::Error::last_os_error());
            st.f_type as i64
        }
    }

    /// What the design promises: a file written with O_DIRECT leaves nothing in the OS page
    /// cache. Checked where the writer really used O_DIRECT on a disk file system; where it
    /// was refused, the file system must be one that is known to refuse it (tmpfs, ramfs).
    #[test]
    fn direct_writes_leave_nothing_in_the_os_page_cache() {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        const RAMFS_MAGIC: i64 = 0x8584_58f6;
        let dir = disk_tempdir();
        let magic = file_system_magic(dir.path());
        let in_memory_fs = magic == TMPFS_MAGIC || magic == RAMFS_MAGIC;
        let path = dir.path().join("segment");
        let bytes = test_bytes(2 * DIRECT_WRITE_BUFFER_BYTES_MAX + 3 * IO_ALIGN_BYTES + 17);
        let (written, _, fell_back) = write_in_pieces(&path, DIRECT_WRITE_BUFFER_BYTES_MAX, &bytes, &PIECES);
        assert_eq!(written, bytes.len() as u64);
        if fell_back {
            assert!(in_memory_fs, "O_DIRECT refused by {} (file system magic {magic:#x}), which is not tmpfs/ramfs", dir.path().display());
            println!("page cache check skipped: {} is tmpfs/ramfs and refused O_DIRECT", dir.path().display());
        } else if in_memory_fs {
            println!("page cache check skipped: {} is tmpfs/ramfs, which keeps every file in memory", dir.path().display());
        } else {
            assert_eq!(resident_pages(&path), 0, "a direct write left pages of {} in the OS page cache", path.display());
            println!("page cache check ran: O_DIRECT on {} (file system magic {magic:#x}), no resident pages", dir.path().display());
        }
        assert!(std::fs::read(&path).expect("read back") == bytes);
    }

    /// O_DIRECT refused at open (fault `DirectIoRefused`) or only at a write (fault
    /// `DirectIoWriteRefused`, at the first full buffer or at `finish`): the file is written
    /// buffered with exactly the same bytes and the fallback is reported.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_refused_o_direct_falls_back_to_buffered_writes_with_the_same_bytes() {
        use crate::fault::{self, Fault};
        let dir = disk_tempdir();
        let bytes = test_bytes(2 * DIRECT_WRITE_BUFFER_BYTES_MAX + 4097);
        for fault in [Fault::DirectIoRefused, Fault::DirectIoWriteRefused] {
            for len in [1, 4097, DIRECT_WRITE_BUFFER_BYTES_MAX + 5, bytes.len()] {
                fault::disarm_all();
                fault::arm_times(fault, 1);
                let path = dir.path().join(format!("{fault:?}-{len}"));
                let (written, refused_at_open, fell_back) = write_in_pieces(&path, DIRECT_WRITE_BUFFER_BYTES_MAX, &bytes[..len], &PIECES);
                assert_eq!(fault::fired(fault), 1, "{fault:?} was met");
                assert_eq!(refused_at_open, fault == Fault::DirectIoRefused);
                assert!(fell_back, "{fault:?}: the fallback is reported");
                assert_eq!(written, len as u64);
                let on_disk = std::fs::read(&path).expect("read back");
                assert!(on_disk == bytes[..len], "{fault:?}: {len} bytes, got {}", on_disk.len());
            }
        }
        fault::disarm_all();
    }
}
